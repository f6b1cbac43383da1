"""`avatar bench`: end-to-end speed of the streaming engine on this machine.

Measured, not estimated: sustained throughput (offline clocking, steady clips),
first-clip compute latency, audio-to-frame latency p50/p95 under the live audio
clock, per-stage times, FLOPs per frame and the fraction of this CPU's measured
bf16 matmul peak that the engine achieves.
"""
import platform
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from avatar.core.state_machine import State
from avatar.model_runtime.engine.planner import LIVE_CLIP, ClipPlan, PlannerConfig
from avatar.model_runtime.engine.streaming import EngineConfig, StreamingEngine
from avatar.model_runtime.engine.timeline import FPS, SAMPLES_PER_FRAME, SAMPLE_RATE, FrameInputs


@dataclass(frozen=True)
class BenchConfig:
    size: int = 256
    steps: int = PlannerConfig.steps
    dtype: str = "bf16"
    seconds: float = 20.0        # audio length of the throughput run, and wall time of the live run
    clip: int = PlannerConfig.clip             # steady clip length for throughput
    live_clip: int = LIVE_CLIP                 # steady clip length in the live run (latency-oriented, as the node)
    first_clip: int = PlannerConfig.first_clip
    seed: int = 0
    renderer: str = "warp"
    max_side: int = 1024         # output frames: the portrait downscaled to this


def cpu_info() -> dict:
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", ""):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile"]
    import os
    return {"model": model, "flags": [f for f in wanted if f in flags], "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def bf16_matmul_peak_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-rate modulated noise: the engine's cost does not depend on the words."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * env * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def flops_per_frame(renderer, motion, image, cfg: "BenchConfig") -> float:
    """Torch FLOPs of one clip through every stage (motion features and generation, the renderer's
    features, denoise and decode) per frame; ops outside torch (OpenCV warps, ONNX Runtime) count 0."""
    eng = _engine(renderer, motion, image, cfg, live=False, clip=cfg.clip)
    n = cfg.clip + 8
    inputs = FrameInputs.of(np.zeros(n * SAMPLES_PER_FRAME, np.float32), n, np.full(n, State.IDLE))
    counter = FlopCounterMode(display=False)
    plan = ClipPlan(start=0, n=cfg.clip, steps=cfg.steps)
    with counter, torch.no_grad():
        job = eng._make_job(0, plan, inputs)
        eng._decode(eng._denoise(eng._features(job)))
    return counter.get_total_flops() / cfg.clip


def _engine(renderer, motion, image, cfg: "BenchConfig", live: bool, clip: int) -> StreamingEngine:
    planner = PlannerConfig(first_clip=cfg.first_clip, clip=clip, steps=cfg.steps, min_steps=1,
                            degrade_lag_ms=1e9 if not live else 200.0, skip_lag_ms=1e9 if not live else 600.0)
    return StreamingEngine(renderer, motion, image, EngineConfig(planner=planner, seed=cfg.seed, live=live,
                                                                 max_side=cfg.max_side))


def first_clip_ms(renderer, motion, image, cfg: "BenchConfig") -> float:
    """Compute time of the first (short) clip, its audio already present."""
    eng = _engine(renderer, motion, image, cfg, live=False, clip=cfg.clip)
    eng.write_audio(speechlike(1.0), 0)
    eng.close_audio()
    t0 = time.perf_counter()
    eng.start()
    next(eng.frames())
    ms = (time.perf_counter() - t0) * 1e3
    eng.stop()
    return ms


def throughput(renderer, motion, image, cfg: BenchConfig) -> tuple[float, dict]:
    eng = _engine(renderer, motion, image, cfg, live=False, clip=cfg.clip)
    eng.write_audio(speechlike(cfg.seconds), 0)
    eng.close_audio()
    eng.start()
    frames, t0 = 0, None
    for f in eng.frames():
        if f.clip == 1 and t0 is None:       # skip the warm-up (first) clip
            t0 = time.perf_counter()
        frames += f.clip >= 1
    fps = frames / (time.perf_counter() - t0)
    stages = {name: {"ms_per_clip": round(s.mean_ms, 2), "ms_per_frame": round(s.mean_ms / cfg.clip, 2)}
              for name, s in eng.pipeline.stats.items()}
    eng.stop()
    return fps, stages


def live_latency(renderer, motion, image, cfg: BenchConfig) -> dict:
    """Audio fed in real time (20 ms chunks on a deadline schedule) under the live clock."""
    eng = _engine(renderer, motion, image, cfg, live=True, clip=cfg.live_clip)
    wave = speechlike(cfg.seconds + 1)
    stop = threading.Event()

    def feed():
        chunk = SAMPLE_RATE // 50
        for k in range(len(wave) // chunk):
            due = eng.origin + k * chunk / SAMPLE_RATE
            while not stop.is_set() and time.monotonic() < due:
                stop.wait(due - time.monotonic())
            eng.write_audio(wave[k * chunk:(k + 1) * chunk], k * chunk)

    eng.start()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    lat, degraded, frames = [], 0, 0
    for f in eng.frames():
        frames += 1
        lat.append((f.done_at - (eng.origin + (f.index + 1) / FPS)) * 1e3)
        degraded += f.degraded
        if time.monotonic() - eng.origin > cfg.seconds:
            break
    stop.set()
    eng.stop()
    lat = np.array(lat[5:] or lat)
    return {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "live_fps": frames / cfg.seconds, "degraded_frames": int(degraded)}


def run_bench(renderer, motion, image, cfg: BenchConfig, peak_gflops: float | None = None) -> dict:
    torch.manual_seed(cfg.seed)
    peak = peak_gflops if peak_gflops is not None else bf16_matmul_peak_gflops()
    # FlopCounterMode sees torch ops only: for ONNX Runtime / TensorRT runners it would count ~0.
    backend = getattr(renderer, "backend", "torch")
    flops = flops_per_frame(renderer, motion, image, cfg) if backend.startswith("torch") else float("nan")
    first = min(first_clip_ms(renderer, motion, image, cfg) for _ in range(3))
    fps, stages = throughput(renderer, motion, image, cfg)
    live = live_latency(renderer, motion, image, cfg)
    probe = _engine(renderer, motion, image, cfg, live=False, clip=cfg.clip)
    return {
        "fps": round(fps, 2), "first_clip_ms": round(first, 1),
        "audio_to_frame_ms_p50": round(live["p50"], 1), "audio_to_frame_ms_p95": round(live["p95"], 1),
        "live_fps": round(live["live_fps"], 2), "degraded_frames": live["degraded_frames"],
        "size": cfg.size, "steps": cfg.steps, "dtype": cfg.dtype, "backend": backend, "renderer": cfg.renderer,
        "frame": list(probe.frame_shape),
        "clip": cfg.clip, "live_clip": cfg.live_clip, "first_clip": cfg.first_clip,
        "audio_lookahead_ms": probe.audio_lookahead_ms,
        "stages": stages,
        "gflop_per_frame": round(flops / 1e9, 3), "bf16_peak_gflops": round(peak, 1),
        "achieved_gflops": round(flops * fps / 1e9, 1), "fraction_of_peak": round(flops * fps / 1e9 / peak, 3),
        "cpu": cpu_info(), "config": asdict(cfg),
    }

"""The streaming engine on a device, for the GPU check: the executor end to end, and speed.

``executor_check`` renders the same speech twice through the whole engine (features ->
denoise -> decode -> paste): once with the fp32 model on the CPU (the CPU executor),
once with the fp32 model on ``device`` (on CUDA: one stream per stage,
executors.cuda_stages), and compares the frames. ``bench_grid`` reuses bench.py's
measurements (first clip, sustained FPS, audio-to-frame latency under the live clock)
for each renderer, size and step count.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import asdict

import numpy as np
import torch

from avatar.core.state_machine import State
from avatar.model_runtime.engine.bench import BenchConfig, first_clip_ms, live_latency, throughput
from avatar.model_runtime.engine.gpu_parity import psnr
from avatar.model_runtime.engine.motion_source import ExplicitMotion
from avatar.model_runtime.engine.offline import offline_engine, render_frames
from avatar.model_runtime.engine.timeline import SAMPLE_RATE, SAMPLES_PER_FRAME, FrameInputs, neutral_expression

EXECUTOR_PSNR_DB = 35.0      # min per-frame PSNR of the device's frames against the CPU executor's (fp32 both)


def renderer_classes_or_diffusion(notes: list[str]) -> dict:
    """name -> renderer class; the diffusion renderer alone while the warp renderer cannot be imported."""
    try:
        from avatar.model_runtime.renderers import renderer_classes
        return renderer_classes()
    except ImportError as err:
        notes.append(f"warp renderer not available ({err}): the diffusion renderer only")
        from avatar.model_runtime.renderers.diffusion import DiffusionRenderer
        return {DiffusionRenderer.name: DiffusionRenderer}


def motion_source(notes: list[str]):
    """The motion generator (it runs on the CPU everywhere), tried on one short clip; ExplicitMotion
    (noted) if it fails."""
    try:
        from avatar.model_runtime.engine.motion_source import load_motion_source

        source = load_motion_source()
        n, ctx = 2, source.audio_context_frames
        wave = torch.zeros(1, (ctx + n) * SAMPLES_PER_FRAME + int(source.audio_lookahead_ms * SAMPLE_RATE / 1000))
        tokens = source.features(wave, ctx + n)                                  # (1, ctx + n, D) or None
        tokens = None if tokens is None else tokens[:, ctx:]
        expression = torch.from_numpy(np.tile(neutral_expression(), (1, n, 1)))  # (1, n, E)
        source.generate(tokens, torch.full((1, n), 2), expression, None, 2, torch.Generator().manual_seed(0))
        return source, "motion generator"
    except Exception as err:          # a part still being written must not stop the check: noted instead
        notes.append(f"motion generator not usable ({type(err).__name__}: {err}): ExplicitMotion used")
        return ExplicitMotion(), "explicit controls (ExplicitMotion)"


def offline_frames(renderer, motion, image: np.ndarray, wave: np.ndarray, steps: int, clip: int) -> np.ndarray:
    """All frames of ``wave`` spoken (state speaking) through the offline engine: (T, H, W, 3) uint8."""
    n = -(-len(wave) // SAMPLES_PER_FRAME)
    engine = offline_engine(renderer, motion, image, steps, seed=0, clip=clip)
    return render_frames(engine, FrameInputs.of(wave, n, np.full(n, State.SPEAKING)))


@contextlib.contextmanager
def strict_fp32():
    """No TF32 in CUDA convolutions and matmuls: the executor check compares executors, not numerics."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def executor_check(image: np.ndarray, wave: np.ndarray, size: int, steps: int, clip: int,
                   device: torch.device) -> dict:
    """The engine on ``device`` (strict fp32) against the CPU executor (fp32) on the same speech and seed."""
    from avatar.model_runtime.avatar_model import AvatarModel
    from avatar.model_runtime.renderers.diffusion import DiffusionRenderer

    reference, tested = (DiffusionRenderer(AvatarModel.load(None, device=str(where), dtype="fp32", size=size))
                         for where in ("cpu", device))
    t0 = time.perf_counter()
    want = offline_frames(reference, ExplicitMotion(), image, wave, steps, clip)
    cpu_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with strict_fp32():
        got = offline_frames(tested, ExplicitMotion(), image, wave, steps, clip)
    dev_s = time.perf_counter() - t0
    same_len = len(got) == len(want)
    psnrs = [psnr(a, b) for a, b in zip(got, want)] if same_len else []
    worst = min(psnrs) if psnrs else float("nan")
    diff = int(np.abs(got.astype(int) - want.astype(int)).max()) if same_len else -1
    return {"executor": "cuda streams" if device.type == "cuda" else "cpu threads (no CUDA)",
            "device": str(device), "size": size, "steps": steps, "frames": [len(got), len(want)],
            "min_psnr_db": worst, "max_abs_diff": diff, "psnr_tol_db": EXECUTOR_PSNR_DB,
            "seconds": {"cpu": round(cpu_s, 2), str(device): round(dev_s, 2)},
            "pass": bool(same_len and len(got) > 0 and worst >= EXECUTOR_PSNR_DB)}


def bench_one(renderer, motion, image: np.ndarray, cfg: BenchConfig) -> dict:
    """bench.py's three measurements for one configuration."""
    first = min(first_clip_ms(renderer, motion, image, cfg) for _ in range(2))
    fps, stages = throughput(renderer, motion, image, cfg)
    live = live_latency(renderer, motion, image, cfg)
    return {"renderer": cfg.renderer, "size": cfg.size, "steps": cfg.steps, "dtype": cfg.dtype,
            "fps": round(fps, 2), "first_clip_ms": round(first, 1),
            "audio_to_frame_ms_p50": round(live["p50"], 1), "audio_to_frame_ms_p95": round(live["p95"], 1),
            "live_fps": round(live["live_fps"], 2), "degraded_frames": live["degraded_frames"],
            "stages_ms_per_frame": {k: v["ms_per_frame"] for k, v in stages.items()}, "config": asdict(cfg)}


def bench_grid(classes: dict, motion, image: np.ndarray, grid: list[tuple[int, int]], device: str, dtype: str,
               seconds: float, deadline: float, record) -> list[dict]:
    """Each renderer at each (size, steps) of ``grid``; ``record(rows)`` after every row (partial results)."""
    rows = []
    for name, cls in classes.items():
        for size in sorted({s for s, _ in grid}):
            if time.monotonic() > deadline:
                rows.append({"renderer": name, "size": size, "skipped": "time budget"})
                continue
            try:
                renderer = cls.load(size=size, dtype=dtype, device=device, checkpoint=None, image=image)
            except Exception as err:      # one renderer failing to load must not stop the others
                rows.append({"renderer": name, "size": size, "error": f"{type(err).__name__}: {err}"})
                record(rows)
                continue
            for steps in [st for s, st in grid if s == size]:
                if time.monotonic() > deadline:
                    rows.append({"renderer": name, "size": size, "steps": steps, "skipped": "time budget"})
                    continue
                cfg = BenchConfig(size=renderer.size, steps=steps, dtype=dtype, seconds=seconds, renderer=name)
                try:
                    rows.append(bench_one(renderer, motion, image, cfg))
                except Exception as err:  # noted per row; the grid goes on
                    rows.append({"renderer": name, "size": size, "steps": steps,
                                 "error": f"{type(err).__name__}: {err}"})
                record(rows)
    return rows

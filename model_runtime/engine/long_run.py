"""Long-run stability: identity/colour/sharpness drift and memory over N minutes.

The engine renders N minutes of speech with pauses (offline clocking: drift does
not depend on wall time), keeping only the first and last minute of frames;
resident memory is sampled throughout. Drift uses the same metrics as `avatar eval`.
"""
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.core.state_machine import State
from avatar.model_runtime.engine.offline import offline_engine
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.engine.timeline import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, FrameInputs


@dataclass(frozen=True)
class LongRunConfig:
    seconds: float = 600.0
    window_s: float = 60.0
    steps: int = PlannerConfig.steps
    clip: int = PlannerConfig.clip
    seed: int = 0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def speech_track(utterance: np.ndarray, seconds: float, gap_s: float = 2.0) -> np.ndarray:
    """The utterance repeated with silent gaps, so states alternate speaking / idle."""
    unit = np.concatenate([utterance, np.zeros(int(gap_s * SAMPLE_RATE), np.float32)])
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(unit)))
    return np.tile(unit, reps)[:int(seconds * SAMPLE_RATE)]


def long_run(renderer, motion, image: np.ndarray, utterance: np.ndarray, cfg: LongRunConfig,
             states: np.ndarray | None = None, framing: str = "face") -> dict:
    """``states`` (T,) per frame of the track, or None: idle throughout."""
    wave = speech_track(utterance, cfg.seconds)
    n = len(wave) // SAMPLES_PER_FRAME
    total = -(-len(wave) // SAMPLES_PER_FRAME)          # the last, partial frame is rendered too
    window = int(cfg.window_s * FPS)
    engine = offline_engine(renderer, motion, image, cfg.steps, cfg.seed, cfg.clip, framing=framing)
    states = np.full(total, State.IDLE, np.int64) if states is None else states[:total]
    first, last, memory = [], [], []
    t0 = time.perf_counter()
    for frame in engine.render(FrameInputs.of(wave, total, states)):
        if frame.index < window:
            first.append(frame.rgb)
        elif frame.index >= n - window:
            last.append(frame.rgb)
        if frame.index % (10 * FPS) == 0:
            memory.append((frame.index / FPS, rss_mb()))
    elapsed = time.perf_counter() - t0
    mem = np.array(memory)
    # The slope between the two kept windows, where the kept frames do not grow: a leak shows here.
    middle = mem[(mem[:, 0] >= cfg.window_s) & (mem[:, 0] < cfg.seconds - cfg.window_s)]
    slope = float(np.polyfit(middle[:, 0] / 60, middle[:, 1], 1)[0]) if len(middle) >= 2 else 0.0
    return {"frames": np.stack(first + last), "n_frames": n, "seconds": cfg.seconds, "elapsed_s": elapsed,
            "fps": n / elapsed, "rss_mb_start": float(mem[0, 1]), "rss_mb_end": float(mem[-1, 1]),
            "rss_mb_max": float(mem[:, 1].max()), "rss_slope_mb_per_min_middle": slope,
            "kept_frames_mb": sum(f.nbytes for f in first + last) / 2 ** 20, "memory_trace": memory}

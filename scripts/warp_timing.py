"""Per-frame time of the warp renderer on one thread: prepare once, then render frames of varied
motion (speech-like jaw, smiles, blinks, gaze, head turns) at each crop size.

    .venv/bin/python scripts/warp_timing.py [--sizes 256 384 512] [--frames 100] [--image PATH]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import skimage.data

from avatar.core import face_motion as fm
from avatar.core.image_io import load_image
from avatar.core.timebase import FPS
from avatar.model_runtime.portrait import analyse_portrait
from avatar.model_runtime.renderers.warp.renderer import WarpRenderer


def varied_motion(n: int, seed: int = 0) -> np.ndarray:
    """(n, DIM) motion at 25 FPS: every channel a smooth random curve; head within +-8 deg."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    out = np.zeros((n, fm.DIM), np.float32)
    for k in range(fm.DIM):
        f, phase = rng.uniform(0.3, 3.0), rng.uniform(0, 2 * np.pi)
        out[:, k] = 0.5 + 0.5 * np.sin(2 * np.pi * f * t + phase)
    out[:, [fm.INDEX[k] for k in fm.HEAD]] = np.radians(8.0) * (2 * out[:, [fm.INDEX[k] for k in fm.HEAD]] - 1)
    blink = fm.INDEX["eyeBlinkLeft"], fm.INDEX["eyeBlinkRight"]
    out[:, blink] = (out[:, blink] > 0.85).astype(np.float32)            # short blinks, mostly open
    return fm.clip(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--image", default=None, help="portrait (default: scikit-image's astronaut)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    portrait = analyse_portrait(skimage.data.astronaut() if args.image is None else load_image(args.image))
    motion = varied_motion(args.frames)
    for size in args.sizes:
        renderer = WarpRenderer(size)
        aligned = portrait.align(size, renderer.framing)
        t0 = time.perf_counter()
        prepared = renderer.prepare(aligned.crop, aligned)
        prepare_ms = 1000 * (time.perf_counter() - t0)
        renderer.render_frame(prepared, motion[0])                            # warm-up
        wall, cpu = [], []
        for m in motion:
            t0, c0 = time.perf_counter(), time.process_time()
            renderer.render_frame(prepared, m)
            wall.append(1000 * (time.perf_counter() - t0))
            cpu.append(1000 * (time.process_time() - c0))
        wall, cpu = np.array(wall), np.array(cpu)
        # CPU time is what the frame costs; wall time also counts waiting for a busy core.
        print(f"{size}: prepare {prepare_ms:.0f} ms; frame wall mean {wall.mean():.1f} ms, "
              f"p95 {np.percentile(wall, 95):.1f} ms; cpu mean {cpu.mean():.1f} ms, p95 {np.percentile(cpu, 95):.1f} ms ({args.frames} frames, 1 thread)")


if __name__ == "__main__":
    main()

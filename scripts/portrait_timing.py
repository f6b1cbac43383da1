"""Time portrait analysis, the aligned crop and the paste-back on one thread, and measure the
neutral round trip (crop pasted back unchanged) inside the face.

    .venv/bin/python scripts/portrait_timing.py [--repeats 50]

The portrait is scikit-image's astronaut upscaled to 1024x1024 (a 1024 output frame).
"""
import argparse
import time

import cv2
import numpy as np
from skimage import data

from avatar.model_runtime.portrait import analyse_portrait
from avatar.model_runtime.portrait.analysis import align_face
from avatar.model_runtime.portrait.landmarks import FACE_OVAL
from avatar.model_runtime.renderers.base import Framing


def timed(fn, repeats: int) -> tuple[str, object]:
    """"wall / cpu ms" medians of fn() over repeats, and fn's last result. The CPU time is the
    process's (mediapipe's own threads included): what the work costs when others share the cores."""
    wall, cpu, out = [], [], None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return f"{1000 * np.median(wall):.2f} / {1000 * np.median(cpu):.2f} ms", out


def face_psnr(a: np.ndarray, b: np.ndarray, lm: np.ndarray) -> float:
    inside = np.zeros(a.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(lm[FACE_OVAL, :2]).astype(np.int32)], 1)
    diff = a[inside > 0].astype(np.float64) - b[inside > 0]
    return float(10 * np.log10(255.0 ** 2 / max(np.mean(diff ** 2), 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    image = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    ms, portrait = timed(lambda: analyse_portrait(image, max_side=1024), 5)
    print(f"analysis (1024x1024, FaceMesh created each time): {ms} wall / cpu, median of 5")
    for size in (256, 384, 512):
        align_ms, aligned = timed(lambda: align_face(portrait.image, portrait.face, size, Framing()), 10)
        paste_ms, frames = timed(lambda: portrait.paste(aligned, aligned.crop[None]), args.repeats)
        x0, y0, x1, y1 = aligned.region.box
        print(f"{size}: align {align_ms}, paste {paste_ms} a frame (box {x1 - x0}x{y1 - y0}), "
              f"round-trip PSNR in the face {face_psnr(frames[0], portrait.image, portrait.face):.1f} dB")


if __name__ == "__main__":
    main()

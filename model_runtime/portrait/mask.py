"""The feathered paste-back mask, in crop pixels.

The face oval grown outward (more at the forehead and the chin, so that brow raises,
head rotation and jaw opening stay inside) joined with the neck below the chin,
feathered with a Gaussian and exactly 0 along the crop border, so that the paste
leaves everything outside the face the portrait's own pixels.
"""
from __future__ import annotations

import cv2
import numpy as np

from avatar.model_runtime.portrait.landmarks import CHIN, FACE_OVAL, FOREHEAD

GROW = 0.12           # outward growth of the oval, x the face height
GROW_FOREHEAD = 0.10  # extra growth toward the forehead, x the face height
GROW_CHIN = 0.12      # extra growth below the chin (jaw opening), x the face height
NECK_WIDTH = 0.55     # neck band width at the chin, x the face width
FEATHER = 0.035       # Gaussian sigma, x the face height
ZERO_BELOW = 1 / 255  # weights this small change no pixel noticeably: zero them so the support stays compact


def paste_mask(lm: np.ndarray, size: int) -> np.ndarray:
    """(478, >=2) landmarks in crop pixels -> (size, size) float32 in 0..1, 0 on the crop border."""
    oval = lm[FACE_OVAL, :2].astype(np.float64)            # (36, 2)
    centre = oval.mean(axis=0)
    height = float(np.linalg.norm(lm[CHIN, :2] - lm[FOREHEAD, :2]))
    width = float(np.ptp(oval[:, 0]))
    out = oval - centre
    unit = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    up, down = np.clip(-unit[:, 1], 0, 1), np.clip(unit[:, 1], 0, 1)   # crop y grows downward
    grow = height * (GROW + GROW_FOREHEAD * up ** 2 + GROW_CHIN * down ** 2)
    grown = oval + unit * grow[:, None]

    sigma = FEATHER * height
    margin = int(np.ceil(2.5 * sigma)) + 1    # keeps the hard edge off the border so the blur fades out
    hard = np.zeros((size, size), np.uint8)
    cv2.fillPoly(hard, [np.round(grown).astype(np.int32)], 1, lineType=cv2.LINE_8)
    cv2.fillPoly(hard, [np.round(_neck(lm, width, size)).astype(np.int32)], 1, lineType=cv2.LINE_8)
    hard[:margin], hard[-margin:], hard[:, :margin], hard[:, -margin:] = 0, 0, 0, 0
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    soft[soft < ZERO_BELOW] = 0.0
    soft[0], soft[-1], soft[:, 0], soft[:, -1] = 0.0, 0.0, 0.0, 0.0
    return np.clip(soft, 0.0, 1.0)


def _neck(lm: np.ndarray, face_width: float, size: int) -> np.ndarray:
    """(4, 2) band from just above the chin straight down the crop's vertical axis to the bottom."""
    chin = lm[CHIN, :2].astype(np.float64)
    half = NECK_WIDTH * face_width / 2
    top = chin[1] - 0.25 * face_width
    return np.array([[chin[0] - half, top], [chin[0] + half, top],
                     [chin[0] + 1.1 * half, size], [chin[0] - 1.1 * half, size]])

"""The aligned square crop: the framing rule as an affine map, and a warp that keeps detail.

side = framing.scale x the distance between the eye centres; the eye midpoint sits at
framing.eye_height of the side from the top, horizontally centred; rotated so that the
eye line is level.
"""
from __future__ import annotations

import cv2
import numpy as np

from avatar.model_runtime.portrait.landmarks import eye_centres
from avatar.model_runtime.renderers.base import Framing


def framing_affine(lm: np.ndarray, size: int, framing: Framing) -> np.ndarray:
    """(478, >=2) landmarks in image pixels -> (2, 3) float64 affine, image pixels -> crop pixels."""
    right, left = eye_centres(lm)      # subject's right eye is on the image left (unmirrored)
    dx, dy = left - right
    angle = np.arctan2(dy, dx)
    k = size / (framing.scale * np.hypot(dx, dy))
    cos, sin = k * np.cos(angle), k * np.sin(angle)
    rot = np.array([[cos, sin], [-sin, cos]])   # rotates the eye line to horizontal, scales by k
    mid = (left + right) / 2
    target = np.array([size / 2, framing.eye_height * size])
    return np.hstack([rot, (target - rot @ mid)[:, None]])


def affine_scale(m: np.ndarray) -> float:
    """Linear scale factor of a similarity affine."""
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def warp_crop(image: np.ndarray, to_crop: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8 through to_crop, area-averaged when shrinking.

    Only the part of the image under the crop is touched. When the crop shrinks the
    face, that region is first resized by the scale with INTER_AREA (so no aliasing),
    leaving the warp a near-1:1 rotation.
    """
    inv = cv2.invertAffineTransform(to_crop)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - 2, 0, (w - 1, h - 1))
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 3, (x0 + 1, y0 + 1), (w, h))
    region = image[y0:y1, x0:x1]
    m = to_crop.copy()
    m[:, 2] += m[:, :2] @ (x0, y0)                  # region pixels -> crop pixels
    k = affine_scale(to_crop)
    if k < 1.0:
        region, pre = area_resize(region, k)
        m = m @ pre
    return cv2.warpAffine(region, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def area_resize(img: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Shrink img by k < 1 with INTER_AREA (no aliasing) -> (the result, the (3, 3) map from its
    pixels to img's pixels: pixel centres (u + 0.5) * s - 0.5)."""
    rw, rh = max(1, round(img.shape[1] * k)), max(1, round(img.shape[0] * k))
    sx, sy = img.shape[1] / rw, img.shape[0] / rh
    small = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA)
    return small, np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])


def to_crop_landmarks(lm: np.ndarray, to_crop: np.ndarray) -> np.ndarray:
    """(478, 3) image pixels -> (478, 3) float32 crop pixels; z scaled like x and y."""
    xy = lm[:, :2] @ to_crop[:, :2].T + to_crop[:, 2]
    z = lm[:, 2:3] * affine_scale(to_crop)
    return np.hstack([xy, z]).astype(np.float32)

"""Anti-aliased, sub-pixel drawing primitives on RGB uint8 images.

OpenCV draws at integer pixels unless given fixed-point coordinates; with
``shift=4`` (1/16 px) slow mouth and lid motion moves smoothly instead of
jumping a pixel at a time.
"""
from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4
_ONE = 1 << SHIFT


def fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def fill(img: np.ndarray, pts: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [fixed(pts)], _colour(colour, img), cv2.LINE_AA, SHIFT)


def line(img: np.ndarray, pts: np.ndarray, colour, thickness: float, closed: bool = False) -> None:
    t = max(1, int(round(thickness)))
    cv2.polylines(img, [fixed(pts)], closed, _colour(colour, img), t, cv2.LINE_AA, SHIFT)


def circle(img: np.ndarray, centre, radius: float, colour, thickness: int = -1) -> None:
    c = tuple(int(round(v * _ONE)) for v in centre)
    cv2.circle(img, c, int(round(radius * _ONE)), _colour(colour, img), thickness, cv2.LINE_AA,
               SHIFT)


def ellipse_pts(centre, axes, angle_deg: float = 0.0, n: int = 48) -> np.ndarray:
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = axes[0] * np.cos(th), axes[1] * np.sin(th)
    r = np.deg2rad(angle_deg)
    xr, yr = x * np.cos(r) - y * np.sin(r), x * np.sin(r) + y * np.cos(r)
    return np.stack([centre[0] + xr, centre[1] + yr], axis=1)


def shade(rgb, factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in rgb)


def mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a, b))


def _colour(colour, img: np.ndarray):
    if img.ndim == 2:
        return int(colour if np.isscalar(colour) else colour[0])
    return tuple(int(c) for c in colour)


def blend_roi(dst: np.ndarray, src: np.ndarray, mask: np.ndarray, x0: int, y0: int) -> None:
    """dst[y0:, x0:] = mix(dst, src, mask/255), clipped to dst; src/mask share a shape."""
    h, w = mask.shape
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(h, dst.shape[0] - y0), min(w, dst.shape[1] - x0)
    if ye <= ys or xe <= xs:
        return
    m = mask[ys:ye, xs:xe, None].astype(np.float32) * (1.0 / 255.0)
    region = dst[y0 + ys:y0 + ye, x0 + xs:x0 + xe]
    out = region * (1.0 - m) + src[ys:ye, xs:xe] * m
    region[...] = np.round(out).astype(np.uint8)

"""Drawing helpers shared by the mouth and the eyes: anti-aliased bands between two chains,
colour sampling from the face, and alpha compositing into a region of the crop."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Band:
    """The area between a top and a bottom chain over a pixel box, column by column."""
    y0: int
    x0: int
    top: np.ndarray        # (w,) float32 top edge y per column (crop px)
    bottom: np.ndarray     # (w,) bottom edge y per column
    coverage: np.ndarray   # (h, w) float32 0..1 pixel coverage (exact in y; tapers at the corners)
    rows: np.ndarray       # (h, 1) pixel-centre y
    cols: np.ndarray       # (w,) pixel-centre x

    @property
    def box(self) -> tuple[slice, slice]:
        h, w = self.coverage.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


def band(top: np.ndarray, bottom: np.ndarray, size: int, pad: int = 1) -> Band | None:
    """(k, 2) top and (k, 2) bottom chains sharing their end points (corners) -> Band, or None
    when it lies outside the crop or covers nothing."""
    pts = np.vstack([top, bottom])
    x0 = int(np.clip(np.floor(pts[:, 0].min()) - pad, 0, size))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()) + pad + 1, 0, size))
    y0 = int(np.clip(np.floor(pts[:, 1].min()) - pad, 0, size))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()) + pad + 1, 0, size))
    if x1 <= x0 or y1 <= y0:
        return None
    cols = np.arange(x0, x1, dtype=np.float32)
    rows = np.arange(y0, y1, dtype=np.float32)[:, None]
    t, b = _along(top, cols), _along(bottom, cols)
    inside = (cols >= max(top[:, 0].min(), bottom[:, 0].min())) & (cols <= min(top[:, 0].max(), bottom[:, 0].max()))
    b = np.where(inside & (b > t), b, t)
    cov = np.clip(np.minimum(b, rows + 0.5) - np.maximum(t, rows - 0.5), 0, 1).astype(np.float32)
    if not cov.any():
        return None
    return Band(y0, x0, t.astype(np.float32), b.astype(np.float32), cov, rows, cols)


def _along(chain: np.ndarray, x: np.ndarray) -> np.ndarray:
    order = np.argsort(chain[:, 0], kind="stable")
    return np.interp(x, chain[order, 0], chain[order, 1])


def composite(image: np.ndarray, box: tuple[slice, slice], colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place: image[box] = image * (1 - alpha) + colour * alpha; colour (h, w, 3) float, alpha (h, w)."""
    roi = image[box].astype(np.float32)
    a = alpha[..., None]
    image[box] = np.clip(roi + a * (colour - roi) + 0.5, 0, 255).astype(np.uint8)


def polygon_median(image: np.ndarray, polygons: list[np.ndarray], exclude: list[np.ndarray] = ()) -> np.ndarray:
    """(3,) float32 median colour inside ``polygons`` less ``exclude`` (lists of (k, 2) px)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in polygons], 1)
    if len(exclude):
        cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in exclude], 0)
    pixels = image[mask > 0]
    if len(pixels) == 0:
        return image.reshape(-1, 3).mean(axis=0).astype(np.float32)
    return np.median(pixels, axis=0).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114

"""The whole image as the face crop: for frames already cut like the renderer's training data.

The diffusion model's own corpus frames (evaluation on held-out clips) and the
synthetic test portraits are such frames: there is no face to find and no
framing to keep, so the centre square is the crop and the drawn crops are the
output frames (``avatar render --framing whole``, ``EngineConfig(framing="whole")``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.core.errors import InputError


@dataclass(frozen=True)
class WholeCrop:
    size: int
    crop: np.ndarray          # (size, size, 3) uint8: the centre square, resized
    landmarks: None = None    # no face analysis: renderers that need a mesh refuse this framing


class WholeFrame:
    """Quacks like portrait.Portrait for ``align`` and ``paste``."""

    def __init__(self, image: np.ndarray):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError("the portrait must be an RGB uint8 image (H, W, 3)")
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        self.square = np.ascontiguousarray(image[top:top + side, left:left + side])

    @property
    def image(self) -> np.ndarray:
        return self.square

    def align(self, size: int, framing=None) -> WholeCrop:
        side = self.square.shape[0]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        crop = self.square if side == size else cv2.resize(self.square, (size, size), interpolation=interp)
        return WholeCrop(size=size, crop=crop)

    def paste(self, aligned: WholeCrop, crops: np.ndarray) -> np.ndarray:
        return crops


class WholeFrames:
    """The ``PortraitCache`` interface for whole-frame portraits (nothing to analyse or cache)."""

    def get(self, image: np.ndarray) -> WholeFrame:
        return WholeFrame(image)

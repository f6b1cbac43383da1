"""Images as RGB uint8: any file OpenCV can read (gray, RGB, RGBA, 8/16-bit, any size), any array,
and the fields of a sensor_msgs/Image."""
from pathlib import Path

import cv2
import numpy as np

from avatar.core.errors import InputError

MIN_SIDE = 16  # smallest image side accepted anywhere (files and arrays)


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Gray / BGR / BGRA of any integer or float depth -> (H, W, 3) uint8 RGB.

    Alpha is composited over white: transparent portrait backgrounds then look
    like a studio backdrop instead of black.
    """
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype.kind == "f":
        img = (np.clip(np.nan_to_num(img), 0.0, 1.0) * 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"unsupported image sample type {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if channels == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    elif channels != 3:
        raise InputError(f"images with {channels} channels are not supported")
    return np.ascontiguousarray(img[:, :, ::-1])


def load_image(path: str | Path) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image not found: {p}")
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise InputError(f"cannot read an image from {p} (not an image format OpenCV knows)")
    if min(img.shape[:2]) < MIN_SIDE:
        raise InputError(f"image {p} is too small ({img.shape[1]}x{img.shape[0]}); need at least {MIN_SIDE}x{MIN_SIDE}")
    return to_rgb8(img)


_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def rgb_from_image(height: int, width: int, encoding: str, step: int, data) -> np.ndarray:
    """sensor_msgs/Image fields -> np.uint8 (H, W, 3) RGB (a copy only where converting)."""
    channels = _CHANNELS.get(encoding)
    if channels is None:
        raise InputError(f"image encoding {encoding!r} is not supported (use rgb8 or bgr8)")
    row = width * channels
    buf = np.frombuffer(data, np.uint8)
    if step < row or buf.size < height * step:
        raise InputError(f"image data is too short for {width}x{height} {encoding} (step {step})")
    img = buf[:height * step].reshape(height, step)[:, :row].reshape(height, width, channels)
    if encoding == "rgb8":
        return img
    code = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB,
            "bgra8": cv2.COLOR_BGRA2RGB, "mono8": cv2.COLOR_GRAY2RGB}[encoding]
    return cv2.cvtColor(np.ascontiguousarray(img), code)

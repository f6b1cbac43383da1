"""Inputs of `avatar eval`: video frames through PyAV, audio via core.audio_io, gt.json, an image.

Every failure becomes one InputError line; nothing here returns partial data silently.
"""
import json
from pathlib import Path

import av
import cv2
import numpy as np

from avatar.core.audio_io import load_audio
from avatar.core.errors import InputError
from avatar.core.timebase import FPS, SAMPLE_RATE
from avatar.model_runtime.evaluation.estimator import PARAM_NAMES


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    return path


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames as (T, H, W, 3) uint8 RGB, and the stream's frame rate."""
    path = _existing(path, "video")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except av.error.FFmpegError as err:
        raise InputError(f"cannot decode video {path}: {err}") from err
    if not frames:
        raise InputError(f"{path} contains no video frames")
    return np.stack(frames), fps


def video_audio(path: str | Path) -> np.ndarray | None:
    """The audio track of a video as 16 kHz mono float32, or None when it has none."""
    path = _existing(path, "video")
    try:
        with av.open(str(path)) as container:
            has_audio = bool(container.streams.audio)
    except av.error.FFmpegError as err:
        raise InputError(f"cannot open {path}: {err}") from err
    return load_audio(path, SAMPLE_RATE) if has_audio else None


def read_image(path: str | Path) -> np.ndarray:
    """Any OpenCV-readable image (grey, RGB, RGBA, 16-bit) as (H, W, 3) uint8 RGB."""
    path = _existing(path, "reference image")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"cannot read image {path}")
    if img.dtype != np.uint8:
        img = (img / (np.iinfo(img.dtype).max / 255.0)).round().astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    code = cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(img, code)


def read_gt(path: str | Path) -> dict:
    path = _existing(path, "ground truth")
    try:
        gt = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not valid JSON: {err}") from err
    return gt


def check_gt(gt: dict, n_frames: int) -> None:
    """The gt.json frames block must exist, hold every estimator key, and match the video length."""
    frames = gt.get("frames") if isinstance(gt, dict) else None
    if not isinstance(frames, dict):
        raise InputError("ground truth has no 'frames' block (expected a corpus gt.json)")
    missing = [k for k in (*PARAM_NAMES, "state", "expression") if k not in frames]
    if missing:
        raise InputError(f"ground truth lacks per-frame keys: {', '.join(missing)}")
    lengths = {k: len(frames[k]) for k in (*PARAM_NAMES, "state", "expression")}
    bad = {k: n for k, n in lengths.items() if n != n_frames}
    if bad:
        key, n = next(iter(bad.items()))
        raise InputError(f"ground truth length mismatch: '{key}' has {n} frames, the video has {n_frames}")


def check_audio_length(speech: np.ndarray, n_frames: int, tolerance_s: float = 0.5) -> None:
    """Audio and video must cover the same time, within tolerance_s (codec padding)."""
    video_s = n_frames / FPS
    audio_s = len(speech) / SAMPLE_RATE
    if abs(audio_s - video_s) > tolerance_s:
        raise InputError(f"audio is {audio_s:.2f} s but the video is {video_s:.2f} s; they must match")

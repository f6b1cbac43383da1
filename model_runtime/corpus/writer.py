"""Clip files: H.264 video (PyAV), 16 kHz int16 WAV, JSON.

The encoder runs single-threaded with fixed options: x264 output then depends
only on the input frames, so the same seed gives byte-identical MP4s (checked
in test_corpus_determinism), and parallelism comes from worker processes.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from avatar.core.timebase import FPS, SAMPLE_RATE

CRF = 16
PRESET = "faster"


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = FPS, crf: int = CRF) -> int:
    """Encode RGB uint8 frames (H, W, 3) to an H.264 MP4 with no audio; returns the frame count."""
    tmp = path.with_suffix(".part.mp4")
    count = 0
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = None
        for img in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps, options={
                    "crf": str(crf), "preset": PRESET, "threads": "1"})
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.codec_context.thread_count = 1
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            out.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            out.mux(stream.encode(None))
    os.replace(tmp, path)
    return count


def write_wav(path: Path, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """float32 in [-1, 1] -> 16-bit PCM mono."""
    pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767.0).astype(np.int16)
    sf.write(str(path), pcm, sample_rate, subtype="PCM_16")


def write_json(path: Path, data: dict) -> None:
    """Atomic: a reader never sees half a file, and gt.json marks a finished clip."""
    tmp = path.with_suffix(".part.json")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)

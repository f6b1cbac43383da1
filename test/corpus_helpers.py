"""Helpers shared by the corpus tests: a small corpus, and muxing a clip into an MP4."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from avatar.model_runtime.corpus.build import CorpusConfig, build_corpus


def small_config(out: Path, seed: int = 3, workers: int = 1, hours: float = 0.008) -> CorpusConfig:
    """About 30 s of 6-8 s clips: enough for every state and all three splits."""
    return CorpusConfig(out=str(out), hours=hours, size=128, seed=seed, workers=workers,
                        clip_min_s=6.0, clip_max_s=8.0, clips_per_identity=1.0)


def build_small(out: Path, **kw) -> dict:
    return build_corpus(small_config(out, **kw))


def mux_clip(frames: np.ndarray, wave16k: np.ndarray, path: Path, fps: int = 30,
             pad: int = 24) -> None:
    """Write frames (resampled to ``fps``, letterboxed) and 44.1 kHz stereo AAC to an MP4."""
    n_src, h, w, _ = frames.shape
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w + 2 * pad, h + 2 * pad, "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "stereo"
        for k in range(int(n_src * fps / 25)):
            canvas = np.zeros((h + 2 * pad, w + 2 * pad, 3), np.uint8)
            canvas[pad:pad + h, pad:pad + w] = frames[min(n_src - 1, k * 25 // fps)]
            out.mux(video.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")))
        out.mux(video.encode(None))
        stereo = np.repeat(resample_poly(wave16k, 441, 160).astype(np.float32)[None], 2, 0)
        for i in range(0, stereo.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, i:i + 1024]),
                                               format="fltp", layout="stereo")
            frame.sample_rate = 44100
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))

"""Read a corpus (the on-disk format in docs/CORPUS.md).

    corpus = open_corpus("/work/data/corpus")
    for clip in corpus.split("train"):
        frames = clip.load_frames()        # (T, H, W, 3) uint8 RGB
        speech = clip.load_speech()        # (T * 640,) float32 at 16 kHz
        mouth = clip.gt["frames"]["mouth_open"]
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile as sf

from avatar.core.errors import InputError
from avatar.core.timebase import SAMPLE_RATE


def _read_wav(path: Path) -> np.ndarray:
    wave, sr = sf.read(str(path), dtype="float32", always_2d=False)
    if sr != SAMPLE_RATE or wave.ndim != 1:
        raise InputError(f"{path}: expected 16 kHz mono, got {sr} Hz with shape {wave.shape}")
    return wave


def decode_video(path: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of an MP4."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise InputError(f"{path}: no video frames")
    return np.stack(frames)


@dataclass
class ClipRef:
    path: Path
    split: str
    clip_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.clip_id = self.path.name

    @cached_property
    def gt(self) -> dict:
        return json.loads((self.path / "gt.json").read_text())

    @property
    def identity(self) -> str:
        return self.gt["identity"]

    @property
    def n_frames(self) -> int:
        return int(self.gt["n_frames"])

    def load_frames(self) -> np.ndarray:
        return decode_video(self.path / "video.mp4")

    def load_speech(self) -> np.ndarray:
        return _read_wav(self.path / "speech.wav")

    def load_user(self) -> np.ndarray:
        return _read_wav(self.path / "user.wav")


class Corpus:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta = self.path / "meta.json"
        if not meta.is_file():
            raise InputError(f"{self.path} is not a corpus (no meta.json)")
        self.meta: dict = json.loads(meta.read_text())

    def split(self, name: str) -> list[ClipRef]:
        if name not in self.meta["splits"]:
            raise InputError(f"unknown split {name!r}; have {sorted(self.meta['splits'])}")
        return [ClipRef(self.path / name / clip, name) for clip in self.meta["splits"][name]]

    def identity_image(self, ident: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB reference portrait."""
        img = cv2.imread(str(self.path / "identities" / f"{ident}.png"), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"no portrait for identity {ident!r} in {self.path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def identity_params(self, ident: str) -> dict:
        return json.loads((self.path / "identities" / f"{ident}.json").read_text())


def open_corpus(path: str | Path) -> Corpus:
    return Corpus(path)

"""Access to a rendered corpus (format in contracts.md) for training.

Uses the corpus helper's reader (model_runtime/corpus/reader.py) when it is installed;
until then a minimal reader of the same on-disk format (PyAV + soundfile) stands in.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile as sf
import torch

from avatar.core.errors import InputError


@dataclass
class ClipInfo:
    split: str
    clip: str
    path: Path

    @property
    def gt(self) -> dict:
        return json.loads((self.path / "gt.json").read_text())

    @property
    def identity(self) -> str:
        return self.gt["identity"]

    def load_frames(self) -> np.ndarray:
        """(T,H,W,3) uint8 RGB."""
        with av.open(str(self.path / "video.mp4")) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])

    def load_speech(self) -> np.ndarray:
        wave, sr = sf.read(str(self.path / "speech.wav"), dtype="float32")
        if sr != 16000:
            raise InputError(f"{self.path}/speech.wav is {sr} Hz, expected 16000")
        return wave if wave.ndim == 1 else wave.mean(axis=1)


class CorpusIO:
    def __init__(self, root):
        self.root = Path(root)
        meta = self.root / "meta.json"
        if not meta.is_file():
            raise InputError(f"{self.root} is not a corpus (no meta.json)")
        self.meta = json.loads(meta.read_text())

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    def clips(self, split: str) -> list[ClipInfo]:
        ids = self.meta["splits"].get(split, [])
        return [ClipInfo(split, c, self.root / split / c) for c in ids if (self.root / split / c).is_dir()]

    def identity_image(self, ident: str) -> np.ndarray:
        bgr = cv2.imread(str(self.root / "identities" / f"{ident}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"missing identity image {ident}.png in {self.root}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_unit(images_uint8: np.ndarray):
    """(N,H,W,3) uint8 -> torch (N,3,H,W) float in [-1,1]."""
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float() / 127.5 - 1

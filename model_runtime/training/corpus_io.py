"""Corpus access for training: the corpus helper's reader plus tensor conversion."""
import numpy as np
import torch

from avatar.model_runtime.corpus.reader import Corpus, open_corpus

__all__ = ["Corpus", "open_corpus", "to_unit"]


def to_unit(images_uint8: np.ndarray) -> torch.Tensor:
    """(N,H,W,3) uint8 -> (N,3,H,W) float in [-1,1]."""
    return torch.from_numpy(np.ascontiguousarray(images_uint8)).permute(0, 3, 1, 2).float() / 127.5 - 1

"""Re-posing the diffusion renderer's reference to the commanded expression (issue 11, item 5).

LLIA's mechanism for expression: the denoiser works on the residual from the reference
latent and the decoder reads the reference's skip maps, so a reference that already wears
the commanded expression carries it into every frame, whatever the denoiser makes of the
expression vector. The warp rig (renderers/warp) draws that pose from the neutral crop.

Per clip: the commanded expression's face motion (``explicit_motion``: smile, brows, lids,
gaze, nod and tilt; never the jaw, which stays the model's) is averaged over the clip and
quantised; a new quantised pose is drawn by the warp rig and encoded once
(``model.prepare_reference``), and kept in a small LRU cache. The pose is a function of the
clip's expression alone, so the output stays deterministic per seed whatever was cached.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from avatar.core import face_motion as fm
from avatar.core.expression import INDEX, NAMES
from avatar.core.errors import InputError
from avatar.model_runtime.conditioning import Reference
from avatar.model_runtime.engine.motion_source import explicit_motion
from avatar.model_runtime.renderers.warp.renderer import Prepared, WarpRenderer

# A pose is re-drawn only when a channel's clip mean moves by this share of its range (0.05 of
# a blendshape; 0.035 rad = 2 deg of head rotation): finer steps are not visible at 256 px and
# would re-encode the reference on every clip of a transition.
REPOSE_QUANTUM = 0.05
REPOSE_CACHE = 8            # poses kept encoded (a commanded track holds a few at a time)


def quantised_pose(expression: torch.Tensor,
                   controls: tuple[str, ...] = NAMES) -> tuple[tuple[int, ...], np.ndarray]:
    """(1, n, E) commanded expression -> (key, (DIM,) float32 motion): the clip-mean face motion of
    ``controls`` (the others left neutral) rounded to REPOSE_QUANTUM of each channel's range; key
    is all zeros for a neutral clip."""
    kept = np.zeros(len(NAMES), np.float32)
    kept[[INDEX[c] for c in controls]] = 1.0
    step = REPOSE_QUANTUM * (fm.HIGH - fm.LOW)                              # (DIM,)
    offset = explicit_motion(np.asarray(expression, np.float32) * kept).mean(axis=0) - fm.neutral()   # (DIM,)
    q = np.round(offset / step).astype(np.int64)
    return tuple(int(v) for v in q), fm.clip(fm.neutral() + q * step)


def crop_landmarks(crop: np.ndarray, face) -> np.ndarray:
    """(478, 3) landmarks in crop pixels: the aligned face's own, or (framing "whole", which has
    none) the portrait analysis run on the crop itself. InputError if it finds no face."""
    landmarks = getattr(face, "landmarks", None)
    if landmarks is not None:
        return np.asarray(landmarks, np.float32)
    from avatar.model_runtime.portrait.analysis import analyse_portrait

    portrait = analyse_portrait(crop)
    scale = crop.shape[0] / portrait.image.shape[0]          # the analysis frame may be resized
    return portrait.faces[0] * np.float32(scale)


@dataclass
class Reposer:
    """A portrait's neutral reference, its warp rig and the poses encoded so far."""
    neutral: Reference
    warp: WarpRenderer
    rig: Prepared
    encode: Callable[[np.ndarray], Reference]       # (S, S, 3) uint8 crop -> Reference
    controls: tuple[str, ...] = NAMES                # commanded controls the rig re-poses
    cache: OrderedDict = field(default_factory=OrderedDict)
    encoded: int = 0                                 # poses drawn and encoded (cost accounting)

    @classmethod
    def build(cls, crop: np.ndarray, face, neutral: Reference, encode,
              controls: tuple[str, ...] = NAMES) -> Reposer:
        unknown = set(controls) - set(NAMES)
        if unknown:
            raise InputError(f"unknown expression controls to re-pose: {sorted(unknown)}; known: {list(NAMES)}")
        warp = WarpRenderer(crop.shape[0])
        return cls(neutral=neutral, warp=warp, rig=warp.prepare(crop, crop_landmarks(crop, face)), encode=encode,
                   controls=tuple(controls))

    def reference(self, expression: torch.Tensor) -> Reference:
        """The reference re-posed to the clip's commanded expression (1, n, E)."""
        key, pose = quantised_pose(expression, self.controls)
        if not any(key):
            return self.neutral
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        ref = self.encode(self.warp.render_frame(self.rig, pose))
        self.encoded += 1
        self.cache[key] = ref
        if len(self.cache) > REPOSE_CACHE:
            self.cache.popitem(last=False)
        return ref

"""WarpRenderer: any portrait animated by warping its own pixels (docs/PORTRAIT.md, ``--renderer warp``).

Per portrait (``prepare``, tens of ms): the warp mesh, the rig, the mouth and eye models and
the index-free warp state. Per frame (``render_frame``): motion -> rig displacement -> head
rotation -> one dense remap of the crop -> mouth interior -> irises and lash lines. It needs
no audio and no network: the motion arrives generated (``denoise`` passes it through).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from avatar.core import face_motion as fm
from avatar.core.errors import InputError
from avatar.model_runtime.portrait.landmarks import N_LANDMARKS, NOSE_TIP
from avatar.model_runtime.renderers.base import ClipInputs, Framing
from avatar.model_runtime.renderers.warp import head
from avatar.model_runtime.renderers.warp.eyes import Eye, build_eyes, draw_eye, fit_lids
from avatar.model_runtime.renderers.warp.mouth import Mouth, build_mouth, draw_mouth, occlusal_split
from avatar.model_runtime.renderers.warp.rig import Rig, build_rig, geometry
from avatar.model_runtime.renderers.warp.topology import Topology, build, follow_ring
from avatar.model_runtime.renderers.warp.warp import HALF_RES_FROM, TriangleWarp

MIN_SIZE = 64


@dataclass(frozen=True)
class Prepared:
    """Everything the warp renderer keeps per portrait."""
    crop: np.ndarray        # (S, S, 3) uint8 the aligned crop
    clean: np.ndarray       # (S, S, 3) uint8 the crop with its irises painted over (eyes.py)
    topo: Topology
    rig: Rig
    warp: TriangleWarp
    mouth: Mouth
    eyes: tuple[Eye, ...]
    pivot: np.ndarray       # (3,) head rotation centre


def face_landmarks(face: Any) -> np.ndarray:
    """(478, 3) float32, z + toward the viewer, from portrait analysis' AlignedFace (or an array).
    The depth sign is read off the face itself: the nose tip is the point nearest the viewer."""
    lm = np.array(getattr(face, "landmarks", face), np.float32)
    if lm.ndim != 2 or lm.shape[0] < N_LANDMARKS or lm.shape[1] != 3 or not np.isfinite(lm).all():
        raise InputError(f"the warp renderer needs (478, 3) finite face landmarks, got {lm.shape}")
    lm = lm[:N_LANDMARKS]
    if lm[NOSE_TIP, 2] < np.median(lm[:, 2]):
        lm[:, 2] = -lm[:, 2]
    return lm


class WarpRenderer:
    name: ClassVar[str] = "warp"
    # Side = 5.2 eye distances with the eyes 38 % down: brows, forehead, chin and a wide-open jaw
    # fit with a margin (the chin needs ~1 eye distance below it to drop into), and the fixed
    # outer ring lands near the paste-back mask's edge.
    framing: ClassVar[Framing] = Framing(scale=5.2, eye_height=0.38)
    default_size: ClassVar[int] = 512

    def __init__(self, size: int = 512):
        if int(size) != size or size < MIN_SIZE or size % 2:
            raise InputError(f"the warp renderer needs an even crop size of at least {MIN_SIZE}, got {size}")
        self._size = int(size)

    @classmethod
    def load(cls, size: int, *, dtype: str = "fp32", device: str = "cpu", checkpoint=None, image=None) -> WarpRenderer:
        """A warp renderer of ``size``; it has no weights, so dtype, device, checkpoint and image are unused."""
        return cls(size)

    @property
    def size(self) -> int:
        return self._size

    @property
    def audio_lookahead_ms(self) -> float:
        return 0.0

    @property
    def audio_context_frames(self) -> int:
        return 0

    def prepare(self, crop: np.ndarray, face: Any) -> Prepared:
        crop = np.asarray(crop)
        if crop.shape != (self.size, self.size, 3) or crop.dtype != np.uint8:
            raise InputError(f"the warp renderer needs a ({self.size}, {self.size}, 3) uint8 crop, "
                             f"got {crop.dtype} {crop.shape}")
        landmarks = fit_lids(crop, face_landmarks(face))
        topo = build(landmarks, self.size, split=lambda up, low: occlusal_split(crop, up, low))
        clean, eyes = build_eyes(crop, topo)
        step = 2 if self.size >= HALF_RES_FROM else 1
        return Prepared(crop=crop, clean=clean, topo=topo, rig=build_rig(topo),
                        warp=TriangleWarp(self.size, topo.triangles, step),
                        mouth=build_mouth(crop, topo, geometry(topo)), eyes=eyes,
                        pivot=head.pivot(topo.points, topo.oval))

    def features(self, wave: torch.Tensor, n_frames: int) -> None:
        return None

    def denoise(self, clip: ClipInputs, prepared: Prepared, carry: Any) -> tuple[np.ndarray, None]:
        return clip.motion, None

    def decode(self, out: np.ndarray, prepared: Prepared) -> np.ndarray:
        """(n, DIM) face motion -> (n, S, S, 3) uint8 crops."""
        motion = np.asarray(out, np.float32)
        if motion.ndim != 2 or motion.shape[1] != fm.DIM:
            raise InputError(f"the warp renderer decodes (n, {fm.DIM}) face motion, got {motion.shape}")
        frames = np.empty((len(motion), self.size, self.size, 3), np.uint8)
        for i, m in enumerate(motion):
            frames[i] = self.render_frame(prepared, m)
        return frames

    def vertices(self, prepared: Prepared, motion: np.ndarray) -> np.ndarray:
        """(DIM,) face motion -> (P, 2) float32 output positions of the warp vertices."""
        m = fm.clip(np.asarray(motion, np.float32))
        topo = prepared.topo
        pts = topo.points + prepared.rig.displace(m)
        face = slice(0, int(topo.ring1[0]))                 # landmarks and mouth mid lines
        pts[face] = head.rotate(pts[face], prepared.pivot, *(float(m[fm.INDEX[k]]) for k in fm.HEAD))
        follow_ring(topo, pts)
        return pts[:, :2]

    def render_frame(self, prepared: Prepared, motion: np.ndarray) -> np.ndarray:
        """(DIM,) face motion -> (S, S, 3) uint8 crop."""
        m = fm.clip(np.asarray(motion, np.float32))
        src = prepared.topo.points[:, :2]
        dst = self.vertices(prepared, m)
        out = prepared.warp.apply(prepared.clean, src, dst)
        draw_mouth(out, prepared.mouth, dst)
        for eye in prepared.eyes:
            draw_eye(out, eye, src, dst, m)
        return out

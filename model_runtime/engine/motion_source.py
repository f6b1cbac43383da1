"""Where a clip's face motion comes from: the motion generator, or the explicit controls alone.

``MotionSource`` is what the engine's features and denoise stages call; the
motion generator (model_runtime/motion/generator.py) satisfies it, and so does
``ExplicitMotion``, the commanded expression and gaze on a still face (used
when a renderer is driven by controls only, e.g. without a motion checkpoint).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from avatar.core import face_motion
from avatar.model_runtime.corpus.behaviour import NOD_DEG, TILT_DEG


class MotionSource(Protocol):
    @property
    def audio_lookahead_ms(self) -> float: ...

    @property
    def audio_context_frames(self) -> int: ...

    @property
    def motion_frames(self) -> int: ...

    def features(self, wave: torch.Tensor, n_frames: int) -> torch.Tensor | None:
        """(1, S) audio incl. context -> (1, n_frames, D) tokens, or None if it reads no audio."""

    def generate(self, tokens, states: torch.Tensor, expression: torch.Tensor, history: np.ndarray | None,
                 steps: int, generator: torch.Generator) -> np.ndarray:
        """(n, face_motion.DIM) float32: the clip's motion, commanded expression included."""


def explicit_motion(expression: torch.Tensor | np.ndarray) -> np.ndarray:
    """(n, DIM) motion of the commanded expression (1, n, E) or (n, E) alone, clamped."""
    e = expression.detach().cpu().numpy() if isinstance(expression, torch.Tensor) else np.asarray(expression)
    e = e.reshape(-1, e.shape[-1])
    return face_motion.clip(face_motion.neutral() + face_motion.from_expression(e, NOD_DEG, TILT_DEG))


class ExplicitMotion:
    """The commanded controls on a still face: no audio, no learned behaviour."""

    audio_lookahead_ms = 0.0
    audio_context_frames = 0
    motion_frames = 0

    def features(self, wave: torch.Tensor, n_frames: int) -> None:
        return None

    def generate(self, tokens, states, expression, history, steps, generator) -> np.ndarray:
        return explicit_motion(expression)


def load_motion_source(checkpoint=None) -> MotionSource:
    """The motion generator (``checkpoint`` None = the bundled one). It runs on the CPU on every
    machine: a clip of face motion costs well under a millisecond a frame."""
    from avatar.model_runtime.motion.generator import MotionGenerator

    return MotionGenerator.load(checkpoint)

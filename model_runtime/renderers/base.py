"""The renderer protocol: what the streaming engine needs from anything that draws a face.

The engine's stages are features -> denoise -> decode (engine/streaming.py). A
renderer takes part in each one through this interface, on the aligned square
crop that portrait analysis (model_runtime/portrait) cut from the portrait; the
engine pastes the decoded crops back into the whole portrait. So a new renderer
is one module with a class that satisfies ``Renderer`` plus one line in
``renderers/__init__.py``.

Every clip arrives as a ``ClipInputs``: the face motion for its frames (the
motion generator's output plus the explicit expression and gaze, docs/ENGINE.md) and
the raw conditions, so a renderer can use either (the warp renderer draws the
motion; the diffusion renderer denoises from audio, state and expression).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch


@dataclass(frozen=True)
class Framing:
    """How the aligned square crop is cut around a face (portrait analysis applies it).

    side = ``scale`` x the distance between the eye centres; the eye midpoint sits
    ``eye_height`` of the side from the crop's top, horizontally centred. The crop is
    rotated so that the eye line is level."""
    scale: float = 4.6
    eye_height: float = 0.42


@dataclass
class ClipInputs:
    """One clip of n frames, as the engine hands it to a renderer's denoise stage."""
    motion: np.ndarray            # (n, face_motion.DIM) float32: what the face should do
    tokens: torch.Tensor | None   # (1, n, D) the renderer's own audio tokens (None if it needs none)
    states: torch.Tensor          # (1, n) long, 0 idle / 1 listening / 2 speaking
    expression: torch.Tensor      # (1, n, expression.DIM) commanded expression
    steps: int                    # sampler steps the planner chose for this clip
    generator: torch.Generator    # seeded per clip: output is deterministic per seed


@runtime_checkable
class Renderer(Protocol):
    name: ClassVar[str]            # the --renderer / ``renderer`` parameter value
    framing: ClassVar[Framing]     # how its crop is cut
    default_size: ClassVar[int]    # crop side when none is asked for

    @classmethod
    def load(cls, size: int, *, dtype: str, device: str, checkpoint, image) -> "Renderer":
        """A ready renderer drawing ``size`` px crops. ``dtype``, ``device`` and ``checkpoint``
        (None = the bundled default) matter to learned renderers; ``image`` is any portrait, for
        backends that trace their networks on one (int8 export)."""

    @property
    def size(self) -> int:
        """Side of the square crop it draws, in pixels."""

    @property
    def audio_lookahead_ms(self) -> float:
        """Audio past a frame's end its own features read (0 when it needs no audio)."""

    @property
    def audio_context_frames(self) -> int:
        """Frames of past audio its features need prepended (0 when it needs no audio)."""

    def prepare(self, crop: np.ndarray, face: Any) -> Any:
        """Once per portrait: the (size, size, 3) uint8 RGB crop and the portrait analysis'
        face (its landmarks in crop pixels) -> whatever the renderer caches (opaque to the engine)."""

    def features(self, wave: torch.Tensor, n_frames: int) -> torch.Tensor | None:
        """(1, S) 16 kHz audio, sample 0 = the start of the context -> (1, n_frames, D), or None."""

    def denoise(self, clip: ClipInputs, prepared: Any, carry: Any) -> tuple[Any, Any]:
        """One clip -> (its output for decode, the carry for the next clip). ``carry`` is None at a
        start, after a state switch the planner restarted on, and after a new portrait."""

    def decode(self, out: Any, prepared: Any) -> np.ndarray:
        """(n, size, size, 3) uint8 RGB crops."""

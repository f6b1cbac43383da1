"""The latent diffusion model (LLIA, docs/MODEL.md) behind the renderer protocol.

An adapter, not a patch: AvatarModel keeps its own facade (backends swap its
per-step networks), and this class maps the engine's stages onto it. It draws
from audio, state and expression itself (it was trained on them), so the face
motion of a clip is not used for pixels here; its crop is cut with the corpus'
framing so that a real photo reaches the model framed like its training faces.

With ``repose`` the reference is re-posed by the warp rig to each clip's commanded expression
before the model sees it (renderers/repose.py, LLIA's mechanism for expression).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from avatar.core.expression import NAMES as EXPRESSION_NAMES
from avatar.model_runtime.conditioning import Cond, Reference
from avatar.model_runtime.renderers.base import ClipInputs, Framing
from avatar.model_runtime.renderers.repose import Reposer
from avatar.model_runtime.samplers import sample_consistency

# Measured with the face mesh on 30 corpus identities (docs/CORPUS.md: the head fills ~60% of the
# frame height, centred): side / eye distance median 5.95 (10-90%: 5.5-6.9), eye line at 0.51 of the side.
CORPUS_FRAMING = Framing(scale=5.9, eye_height=0.51)


class DiffusionRenderer:
    name: ClassVar[str] = "diffusion"
    framing: ClassVar[Framing] = CORPUS_FRAMING
    default_size: ClassVar[int] = 256      # its training size; other multiples of 32 run too

    def __init__(self, model, reanchor: float = 0.05, repose: bool | tuple[str, ...] = False):
        self.model = model               # AvatarModel (or one with a backend installed)
        self.reanchor = reanchor         # pull of the carried latents toward the reference, per clip
        # Re-pose the reference to the commanded expression per clip: True = every control, a tuple
        # of expression names = those only (renderers/repose.py), False = the neutral portrait.
        self.repose = repose

    @classmethod
    def load(cls, size: int, *, dtype: str = "bf16", device: str = "cpu", checkpoint=None, image=None):
        from avatar.model_runtime.engine.backends import load_runtime_model

        return cls(load_runtime_model(checkpoint, device=device, dtype=dtype, size=size, image=image))

    @property
    def size(self) -> int:
        return self.model.size

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def backend(self) -> str:
        return getattr(self.model, "backend", "torch")

    @property
    def audio_lookahead_ms(self) -> float:
        return self.model.audio_lookahead_ms

    @property
    def audio_context_frames(self) -> int:
        return self.model.audio_context_frames

    def prepare(self, crop: np.ndarray, face) -> Reference | Reposer:
        ref = self.model.prepare_reference(crop)
        if not self.repose:
            return ref
        controls = EXPRESSION_NAMES if self.repose is True else tuple(self.repose)
        return Reposer.build(crop, face, ref, self.model.prepare_reference, controls)

    def features(self, wave: torch.Tensor, n_frames: int) -> torch.Tensor:
        return self.model.audio_tokens(wave, n_frames)

    def denoise(self, clip: ClipInputs, prepared: Reference | Reposer, carry: torch.Tensor | None):
        """(latents (1, n, C, h, w), the Reference they were drawn on); carry = the last K latents
        (LLIA's motion frames). Decode needs that Reference: a re-posed one differs per clip."""
        dev = self.model.device
        ref = prepared.reference(clip.expression) if isinstance(prepared, Reposer) else prepared
        motion = None if carry is None else self.model.anchor_motion(carry, ref, self.reanchor)
        cond = Cond(audio=clip.tokens, state=clip.states.to(dev), expression=clip.expression.to(dev), ref=ref,
                    motion=motion)
        n = clip.states.shape[1]
        # Drawn from the clip's CPU generator, then moved: the same noise on every device.
        noise = torch.randn((1, n, *self.model.latent_shape), generator=clip.generator).to(dev)
        latents = sample_consistency(self.model.denoise, noise, self.model.sigmas(clip.steps), cond,
                                     generator=clip.generator)
        return (latents, ref), latents[:, -self.model.motion_frames:]

    def decode(self, out: tuple[torch.Tensor, Reference], prepared) -> np.ndarray:
        latents, ref = out
        rgb = self.model.decode(latents[0], ref)                                 # (n, S, S, 3) uint8
        return rgb.cpu().numpy() if isinstance(rgb, torch.Tensor) else rgb

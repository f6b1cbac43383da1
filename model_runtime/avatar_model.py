"""AvatarModel: the facade the engine, render, bench and eval use (docs/MODEL.md).

It owns the three per-frame networks (audio encoder, denoiser, decoder) plus the
encoders used once per portrait, and hides preconditioning, dtype and memory layout.
"""
import contextlib
import importlib.resources
from pathlib import Path

import cv2
import numpy as np
import torch

from avatar.core.errors import InputError
from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.checkpoint import bundle_networks, load_bundle
from avatar.model_runtime.conditioning import Cond, Denoiser, Reference
from avatar.model_runtime.config import FPS, SAMPLE_RATE, BundleConfig
from avatar.model_runtime.edm import karras_sigmas
from avatar.model_runtime.samplers import sample_consistency

__all__ = ["AvatarModel", "Cond", "Reference", "default_checkpoint"]

DEFAULT_NAME = "avatar.safetensors"


def default_checkpoint(name: str = DEFAULT_NAME) -> Path:
    """A shipped checkpoint in assets/models (``name``: e.g. the motion generator's)."""
    return Path(str(importlib.resources.files("avatar.assets") / "models" / name))


def resolve_checkpoint(path, name: str = DEFAULT_NAME) -> Path:
    """None -> the shipped ``name``; a directory -> its ``name`` or model.safetensors (a run)."""
    path = default_checkpoint(name) if path is None else Path(path)
    if path.is_dir():
        for file in (name, "model.safetensors"):
            if (path / file).is_file():
                return path / file
        raise InputError(f"no {name} or model.safetensors in {path}")
    return path


def image_to_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """(H,W,3) uint8 RGB -> (1,3,size,size) in [-1,1]; centre-cropped to a square first."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("reference image must be an RGB uint8 array shaped (H, W, 3)")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top:top + side, left:left + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    crop = cv2.resize(crop, (size, size), interpolation=interp) if side != size else crop
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 127.5 - 1


class AvatarModel:
    fps = FPS
    sample_rate = SAMPLE_RATE

    def __init__(self, config: BundleConfig, autoencoder: Autoencoder, audio: AudioEncoder,
                 denoiser: Denoiser, device: str = "cpu", dtype: str = "bf16"):
        self.config = config
        self.autoencoder, self.audio, self.denoiser = autoencoder, audio, denoiser
        self.device = torch.device(device)
        self.dtype = dtype
        for net in (autoencoder, audio, denoiser):
            net.eval().requires_grad_(False).to(self.device)
        # channels-last halves the decoder's time with oneDNN bf16 convs (docs/MODEL.md)
        autoencoder.to(memory_format=torch.channels_last)
        denoiser.to(memory_format=torch.channels_last)

    @classmethod
    def load(cls, path: str | None = None, device: str = "cpu", dtype: str = "bf16",
             size: int | None = None) -> "AvatarModel":
        """``size`` runs the (fully convolutional) networks at another frame side, a multiple of 32."""
        if dtype not in ("fp32", "bf16"):
            raise InputError(f"dtype must be fp32 or bf16, not {dtype!r}")
        if size is not None and (size % 32 or size < 64):
            raise InputError(f"size must be a multiple of 32 and at least 64, not {size}")
        config, states, _ = load_bundle(resolve_checkpoint(path))
        if size is not None:
            config.autoencoder.size = size
        ae, audio, denoiser = bundle_networks(config, states, "autoencoder", "audio", "denoiser")
        return cls(config, ae, audio, denoiser, device, dtype)

    # --- properties of the contract -------------------------------------------------------
    @property
    def size(self) -> int:
        return self.config.autoencoder.size

    @property
    def latent_shape(self) -> tuple:
        s = self.config.autoencoder.latent_size
        return (self.config.autoencoder.latent_channels, s, s)

    @property
    def audio_lookahead_ms(self) -> float:
        return self.config.audio.lookahead_ms

    @property
    def audio_context_frames(self) -> int:
        """Frames of past audio that still change a token: prepend this much history when streaming."""
        return self.config.audio.context_frames

    @property
    def motion_frames(self) -> int:
        return self.config.denoiser.motion_frames

    def _autocast(self):
        if self.dtype == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --- per-portrait ----------------------------------------------------------------------
    @torch.no_grad()
    def prepare_reference(self, image_rgb_uint8: np.ndarray) -> Reference:
        img = image_to_tensor(image_rgb_uint8, self.size).to(self.device)
        with self._autocast():
            latent = self.autoencoder.encode(img).float()                        # (1, C, h, w)
            maps = self.autoencoder.ref_encoder(img)
        cast = torch.bfloat16 if self.dtype == "bf16" else torch.float32
        maps = [m.to(cast).contiguous(memory_format=torch.channels_last) for m in maps]
        return Reference(latent=latent, image=img.to(cast).contiguous(memory_format=torch.channels_last),
                         maps=maps)

    # --- per-step networks -----------------------------------------------------------------
    @torch.no_grad()
    def audio_tokens(self, wave16k: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Wave (B,S) whose sample 0 starts frame 0 -> (B, n_frames, D). Audio past the end is
        zero-padded; for streaming pass audio_context_frames of history and keep the tail tokens."""
        if wave16k.ndim != 2:
            raise InputError("audio must be shaped (B, samples)")
        with self._autocast():
            return self.audio(wave16k.to(self.device), n_frames).float()

    @torch.no_grad()
    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: Cond) -> torch.Tensor:
        with self._autocast():
            return self.denoiser(x, sigma, cond)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, ref: Reference) -> torch.Tensor:
        """(N,C,h,w) -> (N,H,W,3) uint8."""
        z = latents.to(self.device).contiguous(memory_format=torch.channels_last)
        with self._autocast():
            img = self.autoencoder.decode(z, ref.maps, ref.image)                  # (N,3,S,S)
        rgb = ((img.float() + 1) * 127.5).clamp_(0, 255).round_().to(torch.uint8)
        return rgb.permute(0, 2, 3, 1).contiguous()

    def sigmas(self, steps: int) -> torch.Tensor:
        """Student schedule for 1-4 steps (from distillation); other counts use a Karras ramp."""
        table = self.config.student_sigmas
        if str(steps) in table:
            return torch.tensor(table[str(steps)], dtype=torch.float32)
        if steps < 1:
            raise InputError("steps must be >= 1")
        return karras_sigmas(steps, self.config.edm)

    # --- conveniences (not in the contract, used by tests and tools) ----------------------
    def sample(self, cond: Cond, n_frames: int, steps: int, generator=None, sampler=sample_consistency):
        """Latents (B, n_frames, C, h, w) for one clip."""
        b = cond.audio.shape[0]
        noise = torch.randn((b, n_frames, *self.latent_shape), generator=generator)
        return sampler(self.denoise, noise, self.sigmas(steps), cond, generator=generator)

    @staticmethod
    def anchor_motion(motion: torch.Tensor, ref: Reference, strength: float = 0.05) -> torch.Tensor:
        """Re-anchoring: pull motion frames (B,K,C,h,w) a fraction `strength` toward the reference
        latent before they condition the next clip, so errors cannot accumulate without bound."""
        z_ref = ref.latent[:, None]
        return motion + strength * (z_ref - motion)

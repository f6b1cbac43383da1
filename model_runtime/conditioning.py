"""Conditioning containers and the preconditioned, reference-residual denoiser D(x; sigma)."""
from dataclasses import dataclass

import torch
import torch.nn as nn

from avatar.model_runtime.config import BundleConfig
from avatar.model_runtime.denoiser import DenoiserUNet
from avatar.model_runtime.edm import precondition


@dataclass
class Reference:
    """Everything derived once from a portrait. image/maps are None in denoiser training."""
    latent: torch.Tensor                  # (1 or B, C, h, w) normalised latent of the portrait
    image: torch.Tensor | None = None     # (1, 3, S, S) in [-1, 1]
    maps: list | None = None              # decoder skip maps, see autoencoder.ReferenceEncoder


@dataclass
class Cond:
    audio: torch.Tensor                   # (B, T, D) audio tokens
    state: torch.Tensor                   # (B, T) long, 0 idle / 1 listening / 2 speaking
    expression: torch.Tensor              # (B, T, 10), order of avatar.core.expression.NAMES
    ref: Reference
    motion: torch.Tensor | None = None    # (B, K, C, h, w) last generated latents, or None at a start
    motion_mask: torch.Tensor | None = None   # (B,) bool: per-sample presence (training); None = all


class Denoiser(nn.Module):
    """EDM-preconditioned D(x; sigma) = z_ref + c_skip (x - z_ref) + c_out F(c_in (x - z_ref), ...).

    Working on the residual from the reference latent lets F spend its capacity on what
    moves (mouth, eyes, head), and keeps identity anchored to the portrait.
    """

    def __init__(self, net: DenoiserUNet, sigma_data: float):
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data

    def motion_inputs(self, cond: Cond, z_ref):
        """Residual motion frames (B,K,C,h,w) and flag (B,); absent -> zeros and flag 0."""
        b, k = z_ref.shape[0], self.net.cfg.motion_frames
        if cond.motion is None or cond.motion.shape[1] == 0:
            return z_ref.new_zeros(b, k, *z_ref.shape[1:]), z_ref.new_zeros(b)
        motion = cond.motion[:, -k:]
        if motion.shape[1] < k:               # too few: repeat the oldest one
            pad = motion[:, :1].expand(-1, k - motion.shape[1], -1, -1, -1)
            motion = torch.cat([pad, motion], 1)
        flag = z_ref.new_ones(b) if cond.motion_mask is None else cond.motion_mask.to(z_ref.dtype)
        return (motion - z_ref[:, None]) * flag.view(-1, 1, 1, 1, 1), flag

    def forward(self, x, sigma, cond: Cond):                      # x (B,T,C,h,w), sigma (B,)
        b = x.shape[0]
        z_ref = cond.ref.latent.expand(b, -1, -1, -1).float()
        y = x.float() - z_ref[:, None]
        c_skip, c_out, c_in, c_noise = (c.view(-1, 1, 1, 1, 1) for c in precondition(sigma.float(),
                                                                                     self.sigma_data))
        motion, flag = self.motion_inputs(cond, z_ref)
        f = self.net(c_in * y, c_noise.view(-1), z_ref, motion, flag, cond.audio,
                     cond.state.long(), cond.expression.float())
        return z_ref[:, None] + c_skip * y + c_out * f.float()


def bundle_denoiser(config: BundleConfig, net: DenoiserUNet | None = None) -> Denoiser:
    """A bundle's preconditioned denoiser: ``net`` (a new UNet of its config if None) at its sigma_data."""
    return Denoiser(DenoiserUNet(config.denoiser) if net is None else net, config.edm.sigma_data)

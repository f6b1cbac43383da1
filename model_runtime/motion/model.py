"""The motion generator's network: a small causal transformer over a clip of T face-motion frames.

The sequence is [K history frames | T clip frames]. History positions carry the previous motion
(normalised, noise-augmented in training, absent at starts); clip positions carry the noisy
motion plus the frame's audio token, state and commanded expression. Attention is causal, so a
frame sees the history, the earlier frames and its own audio token, whose look-ahead the audio
encoder bounds (80 ms). The noise level enters every block through adaLN-Zero (DiT).

EDM preconditioning wraps the raw network (``MotionDenoiser``); the loss is ``motion_loss``; the
samplers are model_runtime/samplers.py. The config is a dataclass stored in the checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from avatar.core import expression, face_motion
from avatar.model_runtime.config import EDMConfig
from avatar.model_runtime.edm import loss_weight, precondition


def motion_edm() -> EDMConfig:
    """EDM settings in the normalised motion space (unit std per channel). Noise levels lean high:
    few-step sampling starts at sigma_max and must get the audio -> jaw mapping from high sigma."""
    return EDMConfig(sigma_data=1.0, sigma_min=0.002, sigma_max=80.0, p_mean=-0.4, p_std=1.4, rho=7.0)


@dataclass
class MotionConfig:
    dim: int = face_motion.DIM          # motion channels
    audio_dim: int = 128                # audio token width (AudioConfig.dim)
    expr_dim: int = expression.DIM
    n_states: int = 3
    motion_frames: int = 8              # K history frames
    max_frames: int = 16                # longest clip T
    width: int = 128
    layers: int = 4
    heads: int = 4
    mlp_ratio: int = 2
    history_noise: float = 0.2          # training: history + U(0, this) * N(0, 1), normalised units
    infer_history_noise: float = 0.05   # inference: the same augmentation at a fixed level
    anchor: float = 0.05                # inference: history pulled this fraction toward neutral per clip
    edm: EDMConfig = field(default_factory=motion_edm)
    kind: str = "teacher"               # "teacher" or "student"
    student_sigmas: dict = field(default_factory=dict)   # str(steps) -> [sigma_0, ..., 0]


CONV_FRAMES = 4


class Block(nn.Module):
    """A causal temporal conv, then pre-norm causal self-attention + MLP, both modulated by the
    noise embedding (adaLN-Zero)."""

    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(),
                                 nn.Linear(mlp_ratio * width, width))
        self.mod = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)
        # A causal depthwise conv over the last CONV_FRAMES positions: relative locality for free.
        # Without it the network denoised a smooth channel (head yaw) barely better than the
        # noise it was given and its samples jittered frame to frame (docs/MODEL.md).
        self.conv = nn.Conv1d(width, width, CONV_FRAMES, groups=width)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, h, mod):                                   # (B, L, W), (B, 1, 6W) from self.mod
        b, n, w = h.shape
        h = h + self.conv(F.pad(h.transpose(1, 2), (CONV_FRAMES - 1, 0))).transpose(1, 2)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)
        x = self.norm1(h) * (1 + scale1) + shift1
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # (B, heads, L, w/heads)
        h = h + gate1 * self.proj(att.transpose(1, 2).reshape(b, n, w))
        x = self.norm2(h) * (1 + scale2) + shift2
        return h + gate2 * self.mlp(x)


class MotionNet(nn.Module):
    """F_theta of EDM: (c_in x (B,T,dim), c_noise (B,), context (B,K+T,W)) -> (B,T,dim).

    ``context`` is computed once per clip by ``context()`` and reused at every sampling step.
    Buffers hold the motion statistics, so they travel in the checkpoint."""

    def __init__(self, cfg: MotionConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.x_in = nn.Linear(cfg.dim, w)
        self.hist_in = nn.Linear(cfg.dim, w)
        self.audio_in = nn.Linear(cfg.audio_dim, w)
        self.expr_in = nn.Linear(cfg.expr_dim, w)
        self.state_emb = nn.Embedding(cfg.n_states, w)
        self.missing = nn.Parameter(torch.zeros(w))              # a history frame that is absent
        self.pos = nn.Parameter(0.02 * torch.randn(cfg.motion_frames + cfg.max_frames, w))
        self.noise_freqs = nn.Parameter(torch.randn(w // 2), requires_grad=False)   # Fourier features
        self.noise_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(Block(w, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.layers))
        self.norm_out = nn.LayerNorm(w, elementwise_affine=False)
        self.mod_out = nn.Linear(w, 2 * w)
        self.out = nn.Linear(w, cfg.dim)
        for layer in (self.mod_out, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        # residual target (generated part) and history (full motion) statistics, per channel
        for name in ("target_mean", "hist_mean"):
            self.register_buffer(name, torch.zeros(cfg.dim))
        for name in ("target_std", "hist_std"):
            self.register_buffer(name, torch.ones(cfg.dim))

    def context(self, audio, state, expr, hist, hist_valid):
        """audio (B,T,A), state (B,T) long, expr (B,T,E), hist (B,K,dim) normalised full motion,
        hist_valid (B,) long: how many of the K history frames are real (the latest ones).
        -> (B, K+T, W) per-position conditioning."""
        k, t = self.cfg.motion_frames, audio.shape[1]
        present = torch.arange(k, device=hist.device)[None] >= (k - hist_valid)[:, None]   # (B, K)
        p = present[..., None].to(hist.dtype)
        hist_h = p * self.hist_in(hist) + (1 - p) * self.missing                           # (B, K, W)
        clip_h = self.audio_in(audio) + self.state_emb(state) + self.expr_in(expr)        # (B, T, W)
        return torch.cat([hist_h, clip_h], 1) + self.pos[:k + t]

    def noise_embedding(self, c_noise):                          # (B,) -> (B, W)
        angle = 2 * math.pi * c_noise[:, None] * self.noise_freqs[None]
        return self.noise_mlp(torch.cat([angle.cos(), angle.sin()], -1))

    def modulations(self, c_noise) -> list:
        """adaLN parameters of every block and of the head for noise levels c_noise (B,): they
        depend on the noise level only, so a fixed sampling schedule can compute them once."""
        emb = F.silu(self.noise_embedding(c_noise))
        return [block.mod(emb)[:, None] for block in self.blocks] + [self.mod_out(emb)[:, None]]

    def trunk(self, x, ctx, mods: list):                         # (B,T,dim), (B,K+T,W) -> (B,T,dim)
        k = self.cfg.motion_frames
        h = torch.cat([ctx[:, :k], ctx[:, k:] + self.x_in(x)], 1)
        for block, mod in zip(self.blocks, mods):
            h = block(h, mod)
        shift, scale = mods[-1].chunk(2, dim=-1)
        return self.out(self.norm_out(h[:, k:]) * (1 + scale) + shift)

    def forward(self, x, c_noise, ctx):                          # (B,T,dim), (B,), (B,K+T,W)
        return self.trunk(x, ctx, self.modulations(c_noise))


class MotionDenoiser(nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) (EDM Table 1), on normalised motion."""

    def __init__(self, net: MotionNet):
        super().__init__()
        self.net = net
        self.sigma_data = net.cfg.edm.sigma_data

    def forward(self, x, sigma, ctx):                            # (B,T,dim), (B,), (B,K+T,W)
        c_skip, c_out, c_in, c_noise = precondition(sigma, self.sigma_data)
        view = lambda c: c.view(-1, 1, 1).to(x.dtype)            # noqa: E731
        return view(c_skip) * x + view(c_out) * self.net(view(c_in) * x, c_noise, ctx).to(x.dtype)


def motion_loss(denoiser: MotionDenoiser, y, sigma, ctx, generator=None):
    """EDM's lambda(sigma)-weighted denoising error for clean normalised motion y (B,T,dim)."""
    noise = torch.randn(y.shape, generator=generator, dtype=y.dtype)
    denoised = denoiser(y + sigma.view(-1, 1, 1) * noise, sigma, ctx)
    weight = loss_weight(sigma, denoiser.sigma_data).view(-1, 1, 1)
    return (weight * (denoised.float() - y) ** 2).mean()

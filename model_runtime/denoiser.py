"""Latent video UNet over a clip of T frames on the 32x32 grid (the raw network F of EDM).

Per-frame conditioning (noise level, state, expression, audio token) is summed into one
embedding that drives FiLM in every residual block. Audio also enters by cross-attention
over a small window of neighbouring tokens, and frames talk to each other through
temporal attention at 16² and 8². The reference latent and the K motion frames are
concatenated as input channels (cheap: only the first conv sees them).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from avatar.model_runtime.config import DenoiserConfig


def sinusoid(x, dim: int):
    """(...,) -> (..., dim) sinusoidal features."""
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, device=x.device) / (dim // 2))
    ang = x.float()[..., None] * freqs
    return torch.cat([ang.cos(), ang.sin()], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x, emb):                                  # x (N,C,H,W), emb (N,E)
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class Attention(nn.Module):
    """Multi-head attention, queries from x (N,L,C), keys/values from ctx (N,M,Cc)."""

    def __init__(self, dim: int, ctx_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.q, self.kv = nn.Linear(dim, dim), nn.Linear(ctx_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, ctx=None):
        n, length, c = x.shape
        h = self.norm(x)
        ctx = h if ctx is None else ctx
        q = self.q(h).view(n, length, self.heads, -1).transpose(1, 2)            # (N,h,L,c/h)
        k, v = self.kv(ctx).view(n, ctx.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)                              # (N,h,L,c/h)
        return x + self.proj(out.transpose(1, 2).reshape(n, length, c))


class ClipAttention(nn.Module):
    """Temporal self-attention across the T frames at each position, then audio cross-attention."""

    def __init__(self, dim: int, cfg: DenoiserConfig):
        super().__init__()
        self.temporal = Attention(dim, dim, cfg.heads)
        self.audio = Attention(dim, cfg.audio_dim, cfg.heads)
        self.window = cfg.audio_window
        self.rel_pos = nn.Parameter(torch.zeros(2 * cfg.audio_window + 1, cfg.audio_dim))

    def forward(self, x, audio, t: int):                        # x (B*T,C,H,W), audio (B,T,D)
        n, c, hh, ww = x.shape
        b = n // t
        seq = x.view(b, t, c, hh * ww).permute(0, 3, 1, 2).reshape(b * hh * ww, t, c)
        seq = self.temporal(seq + sinusoid(torch.arange(t, device=x.device), c).to(seq.dtype))
        x = seq.view(b, hh * ww, t, c).permute(0, 2, 1, 3).reshape(n, hh * ww, c)
        padded = F.pad(audio, (0, 0, self.window, self.window))                 # (B,T+2w,D)
        # Shifted slices rather than Tensor.unfold: same values, and ONNX-exportable with dynamic T.
        ctx = torch.stack([padded[:, k:k + t] for k in range(2 * self.window + 1)], dim=2)  # (B,T,2w+1,D)
        ctx = (ctx + self.rel_pos).reshape(n, 2 * self.window + 1, -1)
        x = self.audio(x, ctx)
        return x.transpose(1, 2).reshape(n, c, hh, ww)


class Level(nn.Module):
    def __init__(self, cin: int, cout: int, cfg: DenoiserConfig, attn: bool, spatial: bool = False):
        super().__init__()
        self.block = ResBlock(cin, cout, cfg.emb_dim)
        self.clip_attn = ClipAttention(cout, cfg) if attn else None
        self.spatial = Attention(cout, cout, cfg.heads) if spatial else None

    def forward(self, x, emb, audio, t: int):
        x = self.block(x, emb)
        if self.spatial is not None:
            n, c, hh, ww = x.shape
            x = self.spatial(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(n, c, hh, ww)
        if self.clip_attn is not None:
            x = self.clip_attn(x, audio, t)
        return x


class DenoiserUNet(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        w0, w1, w2 = cfg.widths
        c, e = cfg.latent_channels, cfg.emb_dim
        self.noise_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.state_emb = nn.Embedding(cfg.n_states, e)
        self.expr_mlp = nn.Sequential(nn.Linear(cfg.expr_dim, e), nn.SiLU(), nn.Linear(e, e))
        self.audio_mlp = nn.Sequential(nn.Linear(cfg.audio_dim, e), nn.SiLU(), nn.Linear(e, e))
        self.inp = nn.Conv2d(c * (2 + cfg.motion_frames) + 1, w0, 3, padding=1)
        at = lambda lvl: lvl in cfg.attn_levels                 # noqa: E731
        self.enc0, self.enc1, self.enc2 = Level(w0, w0, cfg, at(0)), Level(w0, w1, cfg, at(1)), \
            Level(w1, w2, cfg, at(2))
        self.down0, self.down1 = nn.Conv2d(w0, w0, 3, 2, 1), nn.Conv2d(w1, w1, 3, 2, 1)
        self.mid = Level(w2, w2, cfg, True, spatial=True)
        self.dec2 = Level(2 * w2, w2, cfg, at(2))
        self.up1, self.dec1 = nn.Conv2d(w2, w1, 1), Level(2 * w1, w1, cfg, at(1))
        self.up0, self.dec0 = nn.Conv2d(w1, w0, 1), Level(2 * w0, w0, cfg, at(0))
        self.out_norm, self.out = nn.GroupNorm(8, w0), nn.Conv2d(w0, c, 3, padding=1)

    def embed(self, c_noise, state, expr, audio):
        """Per-frame embedding (B*T, E)."""
        e = self.noise_mlp(sinusoid(c_noise * 250.0, self.cfg.emb_dim))[:, None]    # (B,1,E)
        e = e + self.state_emb(state) + self.expr_mlp(expr) + self.audio_mlp(audio)  # (B,T,E)
        return F.silu(e).flatten(0, 1)

    def forward(self, x, c_noise, ref, motion, motion_flag, audio, state, expr):
        """x (B,T,C,h,w) already scaled by c_in; ref (B,C,h,w); motion (B,K,C,h,w);
        motion_flag (B,); audio (B,T,D); state (B,T) long; expr (B,T,10) -> (B,T,C,h,w)."""
        b, t, c, hh, ww = x.shape
        cond_maps = torch.cat([ref, motion.flatten(1, 2), motion_flag[:, None, None, None].expand(b, 1, hh, ww)
                               .to(ref.dtype)], dim=1)                               # (B, C+KC+1, h, w)
        h = torch.cat([x, cond_maps[:, None].expand(b, t, -1, -1, -1)], dim=2).flatten(0, 1)
        emb = self.embed(c_noise, state, expr, audio)
        h0 = self.enc0(self.inp(h), emb, audio, t)                                     # (N, w0, 32, 32)
        h1 = self.enc1(self.down0(h0), emb, audio, t)                                  # (N, w1, 16, 16)
        h2 = self.enc2(self.down1(h1), emb, audio, t)                                  # (N, w2, 8, 8)
        d = self.dec2(torch.cat([self.mid(h2, emb, audio, t), h2], 1), emb, audio, t)
        d = F.interpolate(self.up1(d), scale_factor=2.0, mode="nearest")
        d = self.dec1(torch.cat([d, h1], 1), emb, audio, t)
        d = F.interpolate(self.up0(d), scale_factor=2.0, mode="nearest")
        d = self.dec0(torch.cat([d, h0], 1), emb, audio, t)
        return self.out(F.silu(self.out_norm(d))).view(b, t, c, hh, ww)


# DenoiserUNet.forward's positional inputs, in order: the ONNX input names, what runners are fed.
INPUTS = ("x", "c_noise", "z_ref", "motion", "flag", "audio", "state", "expression")


def example_inputs(cfg: DenoiserConfig, b: int, t: int, hw: int) -> tuple[torch.Tensor, ...]:
    """Random inputs in INPUTS order (tracing, export, parity, FLOP counts): x (B,T,C,hw,hw), c_noise (B,),
    z_ref (B,C,hw,hw), motion (B,K,C,hw,hw), flag (B,), audio (B,T,D), state (B,T) long, expression (B,T,E)."""
    c, k = cfg.latent_channels, cfg.motion_frames
    return (torch.randn(b, t, c, hw, hw), torch.randn(b), torch.randn(b, c, hw, hw), torch.randn(b, k, c, hw, hw),
            torch.ones(b), torch.randn(b, t, cfg.audio_dim), torch.ones(b, t, dtype=torch.long),
            torch.zeros(b, t, cfg.expr_dim))

"""Tiny 8x autoencoder with a reference-conditioned decoder.

The decoder is the most expensive per-frame network after the denoiser, so it is
kept narrow at high resolution. Identity detail does not have to pass through the
4-channel latent: multi-scale features of the reference portrait (computed once per
portrait) modulate the decoder, and the decoder outputs a residual added to the
reference pixels, so static regions are copied from the portrait and cannot drift.
(A learned full-resolution gate was tried first: its elementwise ops at 256² cost
more than all the decoder's convs on this CPU.)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from avatar.model_runtime.config import AutoencoderConfig


def conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = conv3(ch, ch), conv3(ch, ch)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class PyramidEncoder(nn.Module):
    """Image (N,3,S,S) in [-1,1] -> features at S/2, S/4, S/8 (widths w0, w1, w2)."""

    def __init__(self, widths: tuple):
        super().__init__()
        w0, w1, w2 = widths
        # Pixel-unshuffle instead of a full-resolution conv: the first layer runs at S/2.
        self.stem = conv3(12, w0)
        self.block0 = ResBlock(w0)
        self.down1, self.block1 = conv3(w0, w1, 2), ResBlock(w1)
        self.down2, self.block2 = conv3(w1, w2, 2), ResBlock(w2)

    def forward(self, img):
        f0 = self.block0(self.stem(F.pixel_unshuffle(img, 2)))   # (N, w0, S/2, S/2)
        f1 = self.block1(self.down1(F.silu(f0)))                # (N, w1, S/4, S/4)
        f2 = self.block2(self.down2(F.silu(f1)))                # (N, w2, S/8, S/8)
        return f0, f1, f2


class Encoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.pyramid = PyramidEncoder(cfg.widths)
        self.out = conv3(cfg.widths[2], cfg.latent_channels)

    def forward(self, img):                                     # (N,3,S,S) -> (N,C,S/8,S/8)
        return self.out(F.silu(self.pyramid(img)[2]))


class ReferenceEncoder(nn.Module):
    """Reference portrait -> per-scale additive maps for the decoder.

    Adding a constant map is exactly what concatenating the reference features to
    the decoder's activations would do through the next conv (the reference part of
    that conv is precomputed), at the cost of one add per level; a multiplicative
    FiLM was measured 15x slower than the add on this CPU (broadcast addcmul in bf16).
    """

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.pyramid = PyramidEncoder(cfg.widths)
        self.films = nn.ModuleList(nn.Conv2d(w, w, 1) for w in cfg.widths)
        for film in self.films:                # start as identity modulation
            nn.init.zeros_(film.weight)
            nn.init.zeros_(film.bias)

    def forward(self, img):
        feats = self.pyramid(img)
        return [film(F.silu(f)) for film, f in zip(self.films, feats)]   # each (N, w, s, s)


class Decoder(nn.Module):
    """Latent (N,C,S/8,S/8) + cached reference maps -> image (N,3,S,S) in [-1,1]."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        w0, w1, w2 = cfg.widths
        self.inp = conv3(cfg.latent_channels, w2)
        self.block2 = ResBlock(w2)
        # Reduce channels with a 1x1 conv at the low resolution before upsampling:
        # a 3x3 "up" conv at the high resolution costs 4x more.
        self.reduce1, self.conv1a, self.conv1b = nn.Conv2d(w2, w1, 1), conv3(w1, w1), conv3(w1, w1)
        self.reduce0, self.conv0a, self.conv0b = nn.Conv2d(w1, w0, 1), conv3(w0, w0), conv3(w0, w0)
        self.out = conv3(w0, 12)               # -> pixel_shuffle(2): RGB residual at full resolution

    def forward(self, z, ref_maps: list, ref_img):
        f0, f1, f2 = ref_maps
        h = self.block2(self.inp(z) + f2)                                  # (N, w2, S/8)
        h = F.interpolate(self.reduce1(F.silu(h)), scale_factor=2.0, mode="nearest")
        h = self.conv1b(F.silu(self.conv1a(F.silu(h)) + f1))               # (N, w1, S/4)
        h = F.interpolate(self.reduce0(F.silu(h)), scale_factor=2.0, mode="nearest")
        h = self.conv0b(F.silu(self.conv0a(F.silu(h)) + f0))               # (N, w0, S/2)
        return ref_img + F.pixel_shuffle(self.out(F.silu(h)), 2)                    # (N, 3, S, S)


class Autoencoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.ref_encoder = ReferenceEncoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, img):
        """(N,3,S,S) in [-1,1] -> normalised latent (N,C,S/8,S/8)."""
        return (self.encoder(img) - self.cfg.latent_shift) * self.cfg.latent_scale

    def decode(self, z, ref_maps, ref_img):
        """Normalised latent -> (N,3,S,S) in [-1,1]; ref_maps/ref_img broadcast over N."""
        raw = z / self.cfg.latent_scale + self.cfg.latent_shift
        n = raw.shape[0]
        maps = [m.expand(n, -1, -1, -1) for m in ref_maps]
        return self.decoder(raw, maps, ref_img.expand(n, -1, -1, -1))

    def forward(self, img, ref_img, latent_noise: float = 0.0, generator=None):
        """Training pass: raw latent and reconstruction. Noise (relative to the latent std)
        is added before decoding so the decoder tolerates imperfect denoised latents."""
        z = self.encoder(img)
        noisy = z + latent_noise * z.detach().std() * torch.randn(z.shape, generator=generator).to(z)
        maps = [m.expand(z.shape[0], -1, -1, -1) for m in self.ref_encoder(ref_img)]
        return z, self.decoder(noisy, maps, ref_img.expand(z.shape[0], -1, -1, -1))

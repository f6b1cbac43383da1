"""Training augmentation for the face estimator, batched in torch (JPEG in OpenCV).

Generated frames are softer, noisier and slightly shifted compared with corpus renders, so
the estimator is trained on frames degraded the same ways: small shift/scale, colour jitter,
Gaussian blur, down-up resampling, sensor-like noise and JPEG artefacts. No rotation and no
flips: head roll and gaze_x are labels, and both would change them.
"""
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    shift: float = 0.06            # max translation, fraction of the half-width
    scale: float = 0.08            # zoom in [1 - scale, 1 + scale]
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (25, 90)
    p_blur: float = 0.5
    blur_sigma: tuple[float, float] = (0.3, 1.6)   # px at the estimator's input size
    p_downup: float = 0.2          # render at half size and upsample (soft decoders)
    brightness: float = 0.08
    contrast: float = 0.2
    saturation: float = 0.3
    channel_gain: float = 0.08
    noise_std: float = 0.03


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode one (S, S, 3) uint8 RGB frame as JPEG (OpenCV wants BGR)."""
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def jpeg(frames: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Re-encode a random subset of (B, S, S, 3) uint8 frames as JPEG."""
    out = frames.copy()
    for i in np.flatnonzero(rng.random(len(frames)) < cfg.p_jpeg):
        q = int(rng.integers(*cfg.jpeg_quality))
        out[i] = jpeg_roundtrip(out[i], q)
    return out


def affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    zoom = 1.0 + (torch.rand(b, generator=gen) * 2 - 1) * cfg.scale
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * cfg.shift
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def soften(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Blur a random subset (one sigma per batch keeps it a single conv), down-up another."""
    sel = torch.rand(x.shape[0], generator=gen) < cfg.p_blur
    if sel.any():
        lo, hi = cfg.blur_sigma
        sigma = lo + (hi - lo) * float(torch.rand(1, generator=gen))
        x = x.clone()
        x[sel] = gaussian_blur(x[sel], sigma)
    sel = torch.rand(x.shape[0], generator=gen) < cfg.p_downup
    if sel.any():
        size = x.shape[-1]
        small = F.interpolate(x[sel], size=size // 2, mode="area")
        x[sel] = F.interpolate(small, size=size, mode="bilinear", align_corners=False)
    return x


def colour(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]

    def u(*shape):
        return torch.rand(*shape, generator=gen) * 2 - 1

    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * (1 + u(b, 1, 1, 1) * cfg.saturation)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * (1 + u(b, 1, 1, 1) * cfg.contrast)
    x = x * (1 + u(b, 3, 1, 1) * cfg.channel_gain) + u(b, 1, 1, 1) * cfg.brightness
    noise = torch.randn(x.shape, generator=gen) * (torch.rand(b, 1, 1, 1, generator=gen) * cfg.noise_std)
    return x + noise


def augment(frames: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
            gen: torch.Generator) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float in [0, 1], degraded."""
    x = torch.from_numpy(jpeg(frames, cfg, rng)).permute(0, 3, 1, 2).float() / 255.0
    x = colour(soften(affine(x, cfg, gen), cfg, gen), cfg, gen)
    return x.clamp(0.0, 1.0).contiguous(memory_format=torch.channels_last)

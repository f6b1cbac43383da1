"""EDM pieces (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
Generative Models"): preconditioning (Table 1), noise-level sampling and the loss,
each a small function, plus the Karras sigma schedule (Eq. 5).

The diffusion runs on the residual y = z - z_ref (most of the face is the reference),
so sigma_data is the std of that residual, not of the latents.
"""
import torch

from avatar.model_runtime.config import EDMConfig


def precondition(sigma, sigma_data: float):
    """c_skip, c_out, c_in, c_noise for sigma (B,) (Table 1, EDM column)."""
    sd2, s2 = sigma_data ** 2, sigma ** 2
    c_skip = sd2 / (s2 + sd2)
    c_out = sigma * sigma_data / (s2 + sd2).sqrt()
    c_in = 1 / (s2 + sd2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def sample_sigma(n: int, cfg: EDMConfig, generator=None, device="cpu"):
    """Log-normal training noise levels, ln(sigma) ~ N(P_mean, P_std²)."""
    return (torch.randn(n, generator=generator, device=device) * cfg.p_std + cfg.p_mean).exp()


def loss_weight(sigma, sigma_data: float):
    """lambda(sigma) that makes the effective target of F unit-variance at every sigma."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def denoise_noised(denoise_fn, z, sigma, cond, generator=None):
    """D(z + sigma * n; sigma) for clean latents z (B,T,C,h,w) and noise levels sigma (B,)."""
    noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    return denoise_fn(z + sigma.view(-1, 1, 1, 1, 1) * noise, sigma, cond)


def weighted_error(denoised, z, sigma, sigma_data: float, pixel_weight=None):
    """EDM's lambda(sigma)-weighted squared error; ``pixel_weight`` (B,1,1,h,w), mean 1,
    weights where in the frame errors count."""
    err = loss_weight(sigma.view(-1, 1, 1, 1, 1), sigma_data) * (denoised.float() - z) ** 2
    return (err if pixel_weight is None else err * pixel_weight).mean()


def edm_loss(denoise_fn, z, sigma, cond, sigma_data: float, generator=None, pixel_weight=None):
    """Weighted denoising loss for clean latents z (B,T,C,h,w) at noise levels sigma (B,)."""
    return weighted_error(denoise_noised(denoise_fn, z, sigma, cond, generator), z, sigma, sigma_data, pixel_weight)


def karras_sigmas(steps: int, cfg: EDMConfig, sigma_min: float | None = None, sigma_max: float | None = None):
    """(steps+1,) decreasing noise levels, last entry 0 (Eq. 5 of Karras et al.)."""
    lo = cfg.sigma_min if sigma_min is None else sigma_min
    hi = cfg.sigma_max if sigma_max is None else sigma_max
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    inv = 1.0 / cfg.rho
    sig = (hi ** inv + ramp * (lo ** inv - hi ** inv)) ** cfg.rho
    return torch.cat([sig, sig.new_zeros(1)]).float()

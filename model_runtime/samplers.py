"""Stateless samplers with one signature: sample_xxx(denoise_fn, noise, sigmas, cond, generator=None).

denoise_fn(x, sigma (B,), cond) -> x0 estimate, the preconditioned D(x; sigma).
noise is a unit-variance tensor shaped like the output; sigmas is decreasing, last 0.
The arithmetic of the update runs in float64 where it matters (tiny sigma steps).
Nothing here imports training code.
"""
import torch


def _sigma_batch(sigma, x):
    return torch.full((x.shape[0],), float(sigma), dtype=torch.float32, device=x.device)


def sample_euler(denoise_fn, noise, sigmas, cond, generator=None):
    """Deterministic Euler on the probability-flow ODE (Algorithm 1 of Karras et al. 2022
    without the 2nd-order correction)."""
    x = noise.double() * float(sigmas[0])
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = (x - denoise_fn(x.float(), _sigma_batch(s, x), cond).double()) / s
        x = x + (s_next - s) * d
    return x.float()


def sample_heun(denoise_fn, noise, sigmas, cond, generator=None):
    """Heun's 2nd-order deterministic sampler (Algorithm 1 of Karras et al. 2022)."""
    x = noise.double() * float(sigmas[0])
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x = heun_step(denoise_fn, x, s, s_next, cond)
    return x.float()


def heun_step(denoise_fn, x, s: float, s_next: float, cond):
    """One step from sigma s to s_next (Euler when s_next == 0). Used by distillation too."""
    d = (x - denoise_fn(x.float(), _sigma_batch(s, x), cond).double()) / s
    x_next = x + (s_next - s) * d
    if s_next > 0:
        d2 = (x_next - denoise_fn(x_next.float(), _sigma_batch(s_next, x), cond).double()) / s_next
        x_next = x + (s_next - s) * 0.5 * (d + d2)
    return x_next


def sample_consistency(denoise_fn, noise, sigmas, cond, generator=None):
    """Multistep consistency sampling (Algorithm 1 of Song et al. 2023, "Consistency Models"):
    jump to x0, re-noise to the next sigma with fresh noise from `generator`, repeat."""
    x = noise * float(sigmas[0])
    x0 = x
    for i in range(len(sigmas) - 1):
        x0 = denoise_fn(x, _sigma_batch(sigmas[i], x), cond)
        s_next = float(sigmas[i + 1])
        if s_next > 0:
            # Drawn where the generator lives, then moved: a CPU generator gives the same noise on any device.
            where = x0.device if generator is None else generator.device
            fresh = torch.randn(x0.shape, generator=generator, device=where, dtype=x0.dtype).to(x0.device)
            x = x0 + s_next * fresh
    return x0

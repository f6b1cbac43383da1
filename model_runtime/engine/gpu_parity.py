"""Parity of each way of running the per-step networks against fp32 torch on the CPU.

The inputs are fixed (seeded) and realistic: the denoiser's raw-network inputs are
captured from one real preconditioned call on the shipped model's reference latent
and audio tokens, the decoder's from decoding latents sampled by the fp32 model.
Every backend runs the same two networks (export.py's flat signatures) on those
inputs; errors are relative to the output's scale (max |x| of the fp32 result), and
decoded frames are also compared as uint8 pictures (PSNR), as the engine emits them.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from avatar.model_runtime.conditioning import Cond
from avatar.model_runtime.engine.export import DecoderExport

# Tolerances, stated once: (max error relative to the fp32 output's scale, min PSNR of decoded frames in dB).
# fp32 on a GPU allows TF32 convolutions (10-bit mantissa inputs); bf16 has an 8-bit mantissa, fp16 10 bits
# but a narrow range; int8 is ONNX Runtime's dynamic quantization (no calibration set).
TOLERANCES = {"fp32": (1e-2, 40.0), "fp16": (3e-2, 35.0), "bf16": (8e-2, 30.0), "int8": (2e-1, 25.0)}
NO_CUDA = "no CUDA"


@dataclass
class ParityInputs:
    """Fixed inputs of both networks and their fp32 CPU outputs."""
    denoiser: tuple          # export.DENOISER_INPUTS order, (1, T, ...) tensors
    decoder: tuple           # (raw (N, C, h, w), ref_img (N, 3, S, S), *maps (N, ...))
    want: dict               # net -> fp32 CPU output


def _capture(module: nn.Module, call) -> tuple:
    """The positional inputs ``module`` receives while ``call()`` runs."""
    seen = []
    handle = module.register_forward_pre_hook(lambda _m, args: seen.append(args))
    try:
        call()
    finally:
        handle.remove()
    return seen[0]


def parity_inputs(model, image: np.ndarray, wave: np.ndarray, frames: int = 4, seed: int = 0) -> ParityInputs:
    """``model``: AvatarModel in fp32 on the CPU; ``wave`` (S,) 16 kHz speech covering ``frames`` + context."""
    gen = torch.Generator().manual_seed(seed)
    ref = model.prepare_reference(image)
    ctx = model.audio_context_frames
    tokens = model.audio_tokens(torch.from_numpy(wave)[None], ctx + frames)[:, ctx:]      # (1, T, D)
    states = torch.full((1, frames), 2, dtype=torch.long)                                 # speaking
    cond = Cond(audio=tokens, state=states, expression=torch.zeros(1, frames, model.config.denoiser.expr_dim), ref=ref)
    sigma = model.sigmas(2)[:1]                                                           # the first step's
    x = torch.randn((1, frames, *model.latent_shape), generator=gen) * sigma
    den_in = _capture(model.denoiser.net, lambda: model.denoise(x, sigma, cond))
    latents = model.sample(cond, frames, steps=2, generator=gen)[0]                      # (T, C, h, w)
    raw, maps, ref_img = _capture(model.autoencoder.decoder, lambda: model.decode(latents, ref))
    dec_in = (raw, ref_img, *maps)
    dec_in = tuple(t.float().contiguous() for t in dec_in)
    with torch.no_grad():
        want = {"denoiser": model.denoiser.net(*den_in).float(),
                "decoder": DecoderExport(model.autoencoder.decoder)(*dec_in).float()}
    return ParityInputs(tuple(t.contiguous() for t in den_in), dec_in, want)


def to_pixels(img: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> (N, S, S, 3) uint8, as AvatarModel.decode rounds."""
    return ((img.float().cpu() + 1) * 127.5).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def compare(want: torch.Tensor, got: torch.Tensor, precision: str, pictures: bool) -> dict:
    """Errors of ``got`` against ``want`` and pass/fail against TOLERANCES[precision]."""
    got = got.detach().float().cpu()
    max_abs = float((got - want).abs().max())
    rel = max_abs / max(float(want.abs().max()), 1e-6)
    rel_tol, psnr_tol = TOLERANCES[precision]
    rms_rel = float((got - want).pow(2).mean().sqrt() / want.pow(2).mean().sqrt().clamp_min(1e-12))
    out = {"max_abs": max_abs, "rel": rel, "rms_rel": rms_rel, "rel_tol": rel_tol,
           "finite": bool(torch.isfinite(got).all())}
    ok = out["finite"] and rel <= rel_tol
    if pictures:
        out["psnr_db"] = psnr(to_pixels(want), to_pixels(got))
        out["psnr_tol_db"] = psnr_tol
        ok = ok and out["psnr_db"] >= psnr_tol
    out["pass"] = bool(ok)
    return out


def _nets(model) -> dict:
    return {"denoiser": model.denoiser.net, "decoder": DecoderExport(model.autoencoder.decoder)}


def check_runners(inputs: ParityInputs, runners: dict, precision: str) -> dict:
    """runners: net -> callable with the export signature. One compare() per net, plus an overall pass."""
    result = {}
    for net, run in runners.items():
        with torch.no_grad():
            got = run(*getattr(inputs, net))
        result[net] = compare(inputs.want[net], got, precision, pictures=net == "decoder")
    result["pass"] = all(r["pass"] for r in result.values())
    return result


def _autocast_runner(module: nn.Module, device: torch.device, dtype: str):
    """``module`` (already on ``device``) run under autocast in ``dtype`` (fp32: none)."""
    amp = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype)

    def run(*args):
        ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
        with ctx:
            return module(*(a.to(device) for a in args))
    return run


def first_nonfinite(module: nn.Module, run, args: tuple) -> str | None:
    """The first submodule (in execution order, innermost first) whose output is not finite."""
    found = []

    def hook(name):
        def check(mod, _inputs, out):
            out = out[0] if isinstance(out, (tuple, list)) else out
            if not found and isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
                found.append(f"{name or 'output'} ({type(mod).__name__})")
        return check
    handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules()]
    try:
        with torch.no_grad():
            run(*args)
    finally:
        for h in handles:
            h.remove()
    return found[0] if found else None


def torch_parity(model, inputs: ParityInputs, device: torch.device, dtype: str) -> dict:
    """Copies of the fp32 networks on ``device`` under autocast in ``dtype``; where an output is not
    finite, the submodule where it first went wrong is named."""
    modules = {net: copy.deepcopy(m).to(device) for net, m in _nets(model).items()}
    runners = {net: _autocast_runner(m, device, dtype) for net, m in modules.items()}
    result = check_runners(inputs, runners, dtype)
    for net, module in modules.items():
        if not result[net]["finite"]:
            result[net]["first_nonfinite"] = first_nonfinite(module, runners[net], getattr(inputs, net))
    return {"device": str(device), **result}


def export_for_parity(model, image: np.ndarray, out_dir: Path, int8: bool) -> Path:
    """ONNX files of ``model`` (fp32) through the repo's own export (export.export_onnx)."""
    from avatar.model_runtime.engine.export import export_onnx

    export_onnx(model, image, out_dir, int8=int8)
    return out_dir


def onnx_parity(model, inputs: ParityInputs, onnx_dir: Path, precision: str, provider: str) -> dict:
    """ONNX Runtime with ``provider`` (CUDAExecutionProvider or CPUExecutionProvider) via OrtBackend."""
    from avatar.model_runtime.engine.backends import OrtBackend

    backend = OrtBackend(onnx_dir, precision, providers=(provider, "CPUExecutionProvider"))
    runners = {net: backend.runner(net, m) for net, m in _nets(model).items()}
    return {"provider": provider, **check_runners(inputs, runners, precision)}


def tensorrt_parity(model, inputs: ParityInputs, onnx_dir: Path, plan_dir: Path, max_t: int) -> dict:
    """TensorRT fp16 engines built from the ONNX files (export.build_tensorrt), then run."""
    if not torch.cuda.is_available():
        return {"skipped": NO_CUDA}
    try:
        import tensorrt
    except ImportError:
        return {"skipped": "tensorrt not installed"}
    from avatar.model_runtime.engine.export import build_tensorrt
    from avatar.model_runtime.engine.tensorrt_runner import TensorRTRunner

    build_tensorrt(onnx_dir, plan_dir, "fp16", max_t=max_t)
    runners = {net: TensorRTRunner(plan_dir / f"{net}.plan") for net in ("denoiser", "decoder")}
    return {"tensorrt": tensorrt.__version__, **check_runners(inputs, runners, "fp16"),
            "int8": "not calibrated: no TensorRT calibrator exists in this repo (int8 is ONNX Runtime's dynamic "
                    "quantization, checked on the CPU provider)"}

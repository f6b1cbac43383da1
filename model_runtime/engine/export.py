"""Export the per-step networks to ONNX (and int8 ONNX), and build TensorRT engines.

Only the networks are exported — the denoiser's raw UNet and the decoder; the
sampler loop and EDM preconditioning stay in Python, so one set of files serves
1, 2 and 4 steps. Clip length T (denoiser) and frame count N (decoder) are
dynamic axes.
"""
from pathlib import Path

import torch
import torch.nn as nn

from avatar.core.errors import InputError
from avatar.model_runtime.denoiser import INPUTS as DENOISER_INPUTS
from avatar.model_runtime.denoiser import example_inputs
OPSET = 17


class DecoderExport(nn.Module):
    """The decoder with a flat positional signature: (raw latent, reference image, *reference maps)."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder
        self.cfg = getattr(decoder, "cfg", None)

    def forward(self, raw, ref_img, *maps):
        return self.decoder(raw, list(maps), ref_img)


def denoiser_example(model, t: int = 2) -> tuple:
    return example_inputs(model.config.denoiser, 1, t, model.latent_shape[1])


def decoder_example(model, image, n: int = 2) -> tuple:
    ref = model.prepare_reference(image)
    c, h, w = model.latent_shape
    maps = [m.float().expand(n, -1, -1, -1).contiguous() for m in ref.maps]
    return (torch.randn(n, c, h, w), ref.image.float().expand(n, -1, -1, -1).contiguous(), *maps)


def export_onnx(model, image, out_dir: Path, int8: bool = True) -> list[Path]:
    """Write denoiser.onnx and decoder.onnx (+ .int8.onnx) for ``model`` (loaded in fp32)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    den = model.denoiser.net.float().eval()
    dec = DecoderExport(model.autoencoder.decoder.float().eval())
    n_maps = len(decoder_example(model, image)) - 2
    t_axes = {name: {1: "T"} for name in ("x", "audio", "state", "expression")}
    jobs = [
        ("denoiser", den, denoiser_example(model), list(DENOISER_INPUTS), {**t_axes, "f": {1: "T"}}),
        ("decoder", dec, decoder_example(model, image), ["raw", "ref_img"] + [f"map{i}" for i in range(n_maps)],
         {name: {0: "N"} for name in ["raw", "ref_img", "rgb"] + [f"map{i}" for i in range(n_maps)]}),
    ]
    written = []
    for name, module, example, inputs, axes in jobs:
        path = out_dir / f"{name}.onnx"
        output = "f" if name == "denoiser" else "rgb"
        with torch.no_grad():
            torch.onnx.export(module, example, str(path), dynamo=False, input_names=inputs,
                              output_names=[output], dynamic_axes=axes, opset_version=OPSET)
        written.append(path)
        if int8:
            written.append(quantize_int8(path))
    return written


def quantize_int8(path: Path) -> Path:
    """Dynamic int8 quantization (weights int8, activations quantized per call): no calibration set."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_suffix(".int8.onnx")
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return out


def build_tensorrt(onnx_dir: Path, out_dir: Path, precision: str = "fp16", max_t: int = 16) -> list[Path]:
    """TensorRT engines from the ONNX files (TensorRT Python API). Needs a CUDA GPU and `tensorrt`."""
    try:
        import tensorrt as trt
    except ImportError as err:
        raise InputError("TensorRT export needs the `tensorrt` package and a CUDA GPU "
                         "(pip install tensorrt on a machine with NVIDIA drivers)") from err
    from avatar.model_runtime.engine.tensorrt_runner import build_engine

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("denoiser", "decoder"):
        onnx_path = onnx_dir / f"{name}.onnx"
        if not onnx_path.is_file():
            raise InputError(f"{onnx_path} not found: export ONNX first (avatar export --onnx)")
        plan = out_dir / f"{name}.plan"
        plan.write_bytes(build_engine(trt, onnx_path, precision, max_t))
        written.append(plan)
    return written

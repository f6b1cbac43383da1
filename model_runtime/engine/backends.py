"""One backend protocol for the heavy per-step networks (denoiser, decoder).

A backend only decides HOW a network runs — torch fp32/bf16/int8, ONNX Runtime
(fp32 or int8), TensorRT — while the sampler loop, preconditioning and the
cheap audio encoder stay in Python/torch. The chosen runners are swapped into
an AvatarModel, so the engine, render and bench use every backend through the
same facade.
"""
import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.nn as nn

from avatar.core.errors import InputError
from avatar.model_runtime.avatar_model import AvatarModel

NETS = ("denoiser", "decoder")
Runner = Callable[..., torch.Tensor]


class Backend(Protocol):
    name: str

    def runner(self, net: str, module: nn.Module) -> Runner:
        """A callable with the module's positional tensor signature (see export.py)."""


class TorchBackend:
    """Eager torch; bf16 uses autocast (AVX512-BF16 / AMX matmuls and convolutions).

    int8 is not offered here: torch's eager int8 path (torch.ao dynamic quantization)
    covers Linear layers only, is deprecated, and rejects bf16 activations; the CPU
    int8 path is ONNX Runtime's (OrtBackend "int8"), which quantizes convolutions too.
    """

    def __init__(self, dtype: str = "bf16"):
        if dtype not in ("fp32", "bf16"):
            raise InputError(f"torch backend dtype must be fp32 or bf16, not {dtype!r}")
        self.dtype, self.name = dtype, f"torch-{dtype}"

    def runner(self, net: str, module: nn.Module) -> Runner:
        def run(*inputs):
            ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if self.dtype != "fp32"
                   else contextlib.nullcontext())
            with torch.no_grad(), ctx:
                return module(*inputs)
        return run


class OrtBackend:
    """ONNX Runtime, from `avatar export --onnx DIR` (``<net>.onnx`` / ``<net>.int8.onnx``).

    ``providers`` in ONNX Runtime's order of preference; the first one must be the one the
    session really uses (ONNX Runtime silently falls back to the CPU otherwise)."""

    def __init__(self, export_dir: Path, precision: str = "fp32", threads: int = 1,
                 providers: tuple[str, ...] = ("CPUExecutionProvider",)):
        import onnxruntime as ort

        if precision not in ("fp32", "int8"):
            raise InputError(f"ONNX precision must be fp32 or int8, not {precision!r}")
        self._ort, self.dir, self.precision, self.threads = ort, Path(export_dir), precision, threads
        self.providers = tuple(providers)
        self.name = f"onnxruntime-{precision}"

    def runner(self, net: str, module: nn.Module) -> Runner:
        path = self.dir / (f"{net}.int8.onnx" if self.precision == "int8" else f"{net}.onnx")
        if not path.is_file():
            raise InputError(f"{path} not found: run `avatar export --onnx {self.dir}` first")
        opts = self._ort.SessionOptions()
        # One thread per session: the pipeline already runs stages on separate cores.
        opts.intra_op_num_threads = self.threads
        session = self._ort.InferenceSession(str(path), opts, providers=list(self.providers))
        if session.get_providers()[0] != self.providers[0]:
            raise InputError(f"ONNX Runtime could not use {self.providers[0]} for {path.name} "
                             f"(available: {', '.join(self._ort.get_available_providers())})")
        names = [i.name for i in session.get_inputs()]

        def run(*inputs):
            feeds = {n: _to_numpy(x) for n, x in zip(names, inputs)}
            return torch.from_numpy(session.run(None, feeds)[0])
        return run


class TensorRTBackend:
    """TensorRT engines (``<net>.plan``) from `avatar export --tensorrt DIR`. Needs CUDA and the
    tensorrt package; written to the TensorRT Python API docs, untested on this CPU-only project."""

    name = "tensorrt"

    def __init__(self, export_dir: Path):
        if not torch.cuda.is_available():
            raise InputError("the TensorRT backend needs a CUDA GPU, and none is available")
        from avatar.model_runtime.engine.tensorrt_runner import TensorRTRunner
        self._runner_cls, self.dir = TensorRTRunner, Path(export_dir)

    def runner(self, net: str, module: nn.Module) -> Runner:
        return self._runner_cls(self.dir / f"{net}.plan")


def _to_numpy(x: torch.Tensor):
    x = x.detach().cpu()
    if x.dtype in (torch.bfloat16, torch.float16, torch.float64):
        x = x.float()
    return x.numpy()


class _RunnerModule(nn.Module):
    """Stands in for a network inside the facade; keeps ``cfg`` the facade reads."""

    def __init__(self, runner: Runner, original: nn.Module, adapt: Callable | None = None):
        super().__init__()
        self.runner, self.cfg, self.adapt = runner, getattr(original, "cfg", None), adapt

    def forward(self, *inputs):
        return self.runner(*(self.adapt(*inputs) if self.adapt else inputs))


def _decoder_inputs(raw, maps, ref_img):
    return (raw, ref_img, *maps)                      # the flat order export.py uses


def install_backend(model: AvatarModel, backend: Backend) -> AvatarModel:
    from avatar.model_runtime.engine.export import DecoderExport

    den = model.denoiser.net
    model.denoiser.net = _RunnerModule(backend.runner("denoiser", den), den)
    dec = model.autoencoder.decoder
    model.autoencoder.decoder = _RunnerModule(backend.runner("decoder", DecoderExport(dec)), dec,
                                              adapt=_decoder_inputs)
    model.backend = backend.name
    return model


def cached_export_dir(checkpoint, size: int | None) -> Path:
    """Where int8 ONNX files for this checkpoint and size are kept between runs."""
    from avatar.model_runtime.avatar_model import resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "avatar" / "onnx"
    return root / f"{digest}-{size or 'native'}"


def ensure_onnx(checkpoint, size: int | None, image) -> Path:
    """Export (once) the ONNX + int8 ONNX files that ``dtype="int8"`` runs on."""
    from avatar.model_runtime.engine.export import export_onnx

    out = cached_export_dir(checkpoint, size)
    if not (out / "denoiser.int8.onnx").is_file() or not (out / "decoder.int8.onnx").is_file():
        model = AvatarModel.load(checkpoint, dtype="fp32", size=size)
        export_onnx(model, image, out, int8=True)
    return out


def load_runtime_model(checkpoint=None, device: str = "cpu", dtype: str = "bf16", size: int | None = None,
                       backend: str = "torch", export_dir: Path | None = None, image=None) -> AvatarModel:
    """The model with its per-step networks on the requested backend.

    ``dtype="int8"`` always runs on ONNX Runtime; without ``export_dir`` the
    int8 files are exported once into a per-checkpoint cache (``image`` is any
    portrait, used only to trace the decoder's reference inputs).
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available on this machine")
    if dtype not in ("fp32", "bf16", "int8"):
        raise InputError(f"dtype must be fp32, bf16 or int8, not {dtype!r}")
    if dtype == "int8" and backend == "torch":
        backend = "onnx"
        if export_dir is None:
            if image is None:
                raise InputError("int8 needs a portrait to export the decoder with")
            export_dir = ensure_onnx(checkpoint, size, image)
    if backend == "torch":
        model = AvatarModel.load(checkpoint, device=device, dtype=dtype, size=size)
        model.backend = f"torch-{dtype}"
        return model
    if export_dir is None:
        raise InputError(f"backend {backend!r} needs the directory written by `avatar export`")
    model = AvatarModel.load(checkpoint, device=device, dtype="fp32", size=size)
    if backend == "onnx":
        return install_backend(model, OrtBackend(export_dir, "int8" if dtype == "int8" else "fp32"))
    if backend == "tensorrt":
        return install_backend(model, TensorRTBackend(export_dir))
    raise InputError(f"unknown backend {backend!r}: use torch, onnx or tensorrt")

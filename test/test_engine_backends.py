"""Each CPU backend against torch fp32, on fresh random inputs, with stated tolerances.

Tolerances are relative to the output's scale (max |x| of the fp32 result):
ONNX Runtime fp32 1e-4 (same math, other kernels); bf16 autocast 5e-2 (8-bit
mantissa through a few layers); ONNX Runtime int8 15e-2 (dynamic quantization). TensorRT
cannot run here (no GPU).
"""
import numpy as np
import pytest
import torch

from avatar.model_runtime.engine.backends import OrtBackend, TorchBackend, install_backend
from avatar.model_runtime.engine.export import decoder_example, denoiser_example, export_onnx
from avatar.model_runtime.engine.streaming import EngineConfig
from engine_fixtures import portrait, speech, tiny_engine, tiny_model

TOL = {"onnxruntime-fp32": 1e-4, "torch-bf16": 5e-2, "onnxruntime-int8": 15e-2}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    export_onnx(tiny_model(), portrait(), out, int8=True)
    return out


def _fresh_inputs(model, seed):
    torch.manual_seed(seed)
    return {"denoiser": denoiser_example(model, t=3), "decoder": decoder_example(model, portrait(seed), n=3)}


@pytest.mark.parametrize("backend_name", list(TOL))
def test_backend_matches_fp32(exported, backend_name):
    reference = tiny_model()
    nets = {"denoiser": reference.denoiser.net, "decoder": None}
    from avatar.model_runtime.engine.export import DecoderExport
    nets["decoder"] = DecoderExport(reference.autoencoder.decoder)
    kind, precision = backend_name.split("-")
    backend = TorchBackend(precision) if kind == "torch" else OrtBackend(exported, precision)
    for net, module in nets.items():
        run = backend.runner(net, tiny_model().denoiser.net if net == "denoiser"
                             else DecoderExport(tiny_model().autoencoder.decoder))
        for seed in (1, 2):
            inputs = _fresh_inputs(reference, seed)[net]
            with torch.no_grad():
                want = module(*inputs).float()
            got = run(*inputs).float()
            err = (got - want).abs().max().item() / max(want.abs().max().item(), 1e-6)
            assert err < TOL[backend_name], f"{backend_name} {net}: relative error {err:.2e}"


def test_engine_runs_on_onnx_runtime(exported):
    model = install_backend(tiny_model(), OrtBackend(exported, "fp32"))
    eng = tiny_engine(model, portrait(), EngineConfig())
    eng.write_audio(speech(0.6), 0)
    eng.close_audio()
    eng.start()
    frames = list(eng.frames())
    eng.stop()
    ref = tiny_engine(tiny_model(), portrait(), EngineConfig())
    ref.write_audio(speech(0.6), 0)
    ref.close_audio()
    ref.start()
    want = list(ref.frames())
    ref.stop()
    assert len(frames) == len(want) == 15
    diff = np.abs(np.stack([f.rgb for f in frames]).astype(int) - np.stack([f.rgb for f in want]).astype(int))
    assert diff.max() <= 2, diff.max()

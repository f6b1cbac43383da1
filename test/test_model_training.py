"""Training entry points on a tiny synthetic corpus: CLI, resume, latent cache, DDP (gloo, 2 processes)."""
import json
import math
import os
import subprocess
import sys

import pytest

from avatar.model_runtime.avatar_model import AvatarModel
from avatar.model_runtime.checkpoint import load_bundle, read_metadata
from avatar.model_runtime.training.synthetic import make_corpus

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "c", size=64, n_frames=20)


def run_cli_module(module, *args):
    """Run one subcommand module directly (independent of other subcommands' import state)."""
    code = ("import argparse, sys, importlib; m = importlib.import_module('avatar.cli.' + sys.argv[1]); "
            "p = argparse.ArgumentParser(); m.add_arguments(p); sys.exit(m.run(p.parse_args(sys.argv[2:])))")
    return subprocess.run([sys.executable, "-c", code, module, *args], capture_output=True, text=True, timeout=300)


def test_train_resume_distill_and_load(corpus, tmp_path):
    ae, dn, st = tmp_path / "ae", tmp_path / "dn", tmp_path / "st"
    r = run_cli_module("train", "autoencoder", "--corpus", str(corpus), "--out", str(ae), "--steps", "3")
    assert r.returncode == 0, r.stderr
    r = run_cli_module("train", "autoencoder", "--corpus", str(corpus), "--out", str(ae), "--steps", "5",
                       "--resume")
    assert r.returncode == 0, r.stderr
    assert "resumed at step 3" in (ae / "train.log").read_text()
    assert read_metadata(ae / "model.safetensors")["step"] == "5"
    for steps, more in (("3", []), ("4", ["--resume"])):
        r = run_cli_module("train", "denoiser", "--corpus", str(corpus), "--out", str(dn), "--steps", steps,
                           "--batch", "8", "--autoencoder", str(ae / "model.safetensors"), "--face-aux", "0.3",
                           *more)
        assert r.returncode == 0, r.stderr
    assert list(corpus.glob("train/*/latents-*.npy")), "latents were not cached"
    log = (dn / "train.log").read_text()
    # The face probe is trained once per run; the resumed run reuses the frozen one.
    assert log.count("face probe held-out r") == 1 and "resumed at step 3" in log, log
    last = json.loads(read_metadata(dn / "model.safetensors")["last"])
    assert 0 < last["face"] < 100 and math.isfinite(last["loss"]), last   # mouth_open only: others NaN
    # A new run from the trained weights (what the next session does with the shipped model).
    dn2 = tmp_path / "dn2"
    r = run_cli_module("train", "denoiser", "--corpus", str(corpus), "--out", str(dn2), "--steps", "1",
                       "--batch", "8", "--autoencoder", str(ae / "model.safetensors"), "--seed", "1",
                       "--init", str(dn / "model.safetensors"))
    assert r.returncode == 0, r.stderr
    assert "initialised from" in (dn2 / "train.log").read_text()
    _, before, _ = load_bundle(str(dn / "model.safetensors"))
    _, after, _ = load_bundle(str(dn2 / "model.safetensors"))
    drift = max((after["denoiser"][k].float() - v.float()).abs().max().item() for k, v in before["denoiser"].items())
    assert drift < 0.01, drift                     # one small step away, not a fresh init (seed 1)
    r = run_cli_module("distill", "--corpus", str(corpus), "--out", str(st), "--steps", "2", "--batch", "8",
                       "--teacher", str(dn / "model.safetensors"))
    assert r.returncode == 0, r.stderr
    model = AvatarModel.load(str(st))
    assert model.config.kind == "student" and len(model.sigmas(2)) == 3 and model.size == 64


def test_bad_arguments_are_one_line_errors(tmp_path):
    r = run_cli_module("train", "autoencoder", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"))
    assert r.returncode != 0 and "--steps or --minutes" in r.stderr
    r = run_cli_module("train", "denoiser", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"), "--steps", "1")
    assert r.returncode != 0 and "--autoencoder" in r.stderr


def test_ddp_gloo_two_processes(corpus, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = ("from avatar.model_runtime.training.autoencoder_train import train_autoencoder; "
            "from avatar.model_runtime.training.loop import LoopConfig; import sys; "
            "train_autoencoder(sys.argv[1], LoopConfig(out=sys.argv[2], steps=3, batch=2, threads=1))")
    script = tmp_path / "ddp_train.py"
    script.write_text(code)
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node", "2", str(script), str(corpus),
                        str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert read_metadata(tmp_path / "ddp" / "model.safetensors")["step"] == "3"


def test_sigterm_ends_training_with_a_checkpoint(corpus, tmp_path):
    import signal
    import time
    import torch
    code = ("import argparse, sys, importlib; m = importlib.import_module('avatar.cli.train'); "
            "p = argparse.ArgumentParser(); m.add_arguments(p); sys.exit(m.run(p.parse_args(sys.argv[1:])))")
    out = tmp_path / "ae"
    proc = subprocess.Popen([sys.executable, "-c", code, "autoencoder", "--corpus", str(corpus), "--out", str(out),
                             "--minutes", "10", "--save-minutes", "10"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while "step 1 " not in ((out / "train.log").read_text() if (out / "train.log").exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (out / "train.log").read_text()
    assert "stopped by signal SIGTERM" in log
    step = torch.load(out / "state.pt", weights_only=False)["step"]
    assert step >= 1 and read_metadata(out / "model.safetensors")["step"] == str(step)

"""MotionGenerator: the motion generator as the streaming engine calls it (engine/motion_source.py).

    gen = MotionGenerator.load()                     # assets/models/motion.safetensors (the student)
    tokens = gen.features(wave, ctx + n)[:, ctx:]    # (1, n, D) from audio incl. context
    motion = gen.generate(tokens, states, expression, history, steps=2, generator=g)   # (n, DIM)

``generate`` returns clip(generated + from_expression(commanded)): the commanded expression and
gaze are exactly what the controls say, and the model adds speech motion and state behaviour.
The history (the last K frames it returned) is re-anchored a small fraction toward the neutral
face under the current command and noise-augmented as in training (LLIA), so errors cannot pile
up over long runs.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from avatar.core import face_motion
from avatar.core.errors import InputError
from avatar.model_runtime.avatar_model import default_checkpoint, resolve_checkpoint
from avatar.model_runtime.edm import karras_sigmas, precondition
from avatar.model_runtime.samplers import sample_consistency, sample_heun

from .checkpoint import load_motion
from .data import explicit

DEFAULT_NAME = "motion.safetensors"
TEACHER_NAME = "motion_teacher.safetensors"


def default_motion_checkpoint(name: str = DEFAULT_NAME) -> Path:
    return default_checkpoint(name)


def resolve_motion_checkpoint(path) -> Path:
    """None -> the shipped student; a directory -> its motion.safetensors or model.safetensors."""
    return resolve_checkpoint(path, DEFAULT_NAME)


def _tensor(x, dtype=torch.float32) -> torch.Tensor:
    return x.to(dtype) if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)).to(dtype)


class _Trunk(torch.nn.Module):
    """MotionNet.trunk with the modulations as separate inputs (an exportable signature)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, ctx, *mods):
        return self.net.trunk(x, ctx, list(mods))


def ort_trunk(net):
    """The trunk as an in-memory ONNX Runtime session (dynamic T), one thread; -> run(x, ctx, mods)."""
    import onnxruntime as ort

    k = net.cfg.motion_frames
    mods = net.modulations(torch.zeros(1))
    names = ["x", "ctx"] + [f"mod{i}" for i in range(len(mods))]
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the tracer's notes on shape arithmetic
        torch.onnx.export(_Trunk(net), (torch.zeros(1, 2, net.cfg.dim), torch.zeros(1, k + 2, net.cfg.width), *mods),
                          buf, input_names=names, output_names=["y"], opset_version=17, dynamo=False,
                          dynamic_axes={"x": {1: "t"}, "ctx": {1: "l"}, "y": {1: "t"}})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])

    def run(x, ctx, mods):
        feeds = {"x": x.numpy(), "ctx": ctx.numpy(), **{n: m for n, m in zip(names[2:], mods)}}
        return torch.from_numpy(session.run(None, feeds)[0])
    return run


class ScheduleDenoiser:
    """MotionDenoiser's D(x; sigma) for inference, the same numbers with less overhead: a clip
    of one frame costs per-op overhead, not arithmetic. The preconditioning and adaLN parameters
    depend on sigma only, so they are computed once per sigma of the schedule; the trunk runs on
    ONNX Runtime (about half of torch's per-op cost here; checked against the eager network in
    test_motion_model)."""

    MAX_CACHED = 256

    def __init__(self, net):
        self.net = net
        self.sigma_data = net.cfg.edm.sigma_data
        self._per_sigma: dict[float, tuple] = {}
        self._trunk = ort_trunk(net)

    def _constants(self, sigma) -> tuple:
        key = float(sigma[0])
        if key not in self._per_sigma:
            if len(self._per_sigma) >= self.MAX_CACHED:
                self._per_sigma.clear()
            c_skip, c_out, c_in, c_noise = precondition(sigma[:1].float(), self.sigma_data)
            mods = tuple(m.detach().numpy() for m in self.net.modulations(c_noise))
            self._per_sigma[key] = (float(c_skip), float(c_out), float(c_in), mods)
        return self._per_sigma[key]

    def __call__(self, x, sigma, ctx):                           # (1,T,dim), (1,), (1,K+T,W)
        c_skip, c_out, c_in, mods = self._constants(sigma)
        return c_skip * x + c_out * self._trunk(c_in * x, ctx, mods)


class MotionGenerator:
    def __init__(self, net, audio, extra: dict | None = None):
        self.net, self.audio = net, audio
        self.cfg = net.cfg
        self.denoiser = ScheduleDenoiser(net)
        self.extra = extra or {}
        stats = {n: getattr(net, n).numpy().astype(np.float32) for n in ("hist_mean", "hist_std", "target_mean", "target_std")}
        self._hist_mean, self._hist_std = stats["hist_mean"], stats["hist_std"]
        self._target_mean, self._target_std = stats["target_mean"], stats["target_std"]

    @classmethod
    def load(cls, path=None) -> "MotionGenerator":
        net, audio, extra = load_motion(resolve_motion_checkpoint(path))
        return cls(net, audio, extra)

    @property
    def audio_lookahead_ms(self) -> float:
        return self.audio.cfg.lookahead_ms

    @property
    def audio_context_frames(self) -> int:
        return self.audio.cfg.context_frames

    @property
    def motion_frames(self) -> int:
        return self.cfg.motion_frames

    @property
    def kind(self) -> str:
        return self.cfg.kind

    def sigmas(self, steps: int) -> torch.Tensor:
        """The student's distilled schedule for 1/2/4 steps, else a Karras ramp."""
        if steps < 1:
            raise InputError("steps must be >= 1")
        table = self.cfg.student_sigmas
        if str(steps) in table:
            return torch.tensor(table[str(steps)], dtype=torch.float32)
        return karras_sigmas(steps, self.cfg.edm)

    @torch.inference_mode()
    def features(self, wave, n_frames: int) -> torch.Tensor:
        """Wave (1, S) float32 at 16 kHz whose sample 0 starts the first frame -> (1, n_frames, D)."""
        wave = _tensor(wave)
        if wave.ndim != 2:
            raise InputError("audio must be shaped (1, samples)")
        return self.audio(wave, n_frames).float()

    def history_condition(self, history, anchor: np.ndarray, generator=None):
        """(hist (1,K,DIM) normalised, valid (1,) long) from the last motion frames (k<=K, DIM) or
        None, re-anchored a fraction toward ``anchor`` (DIM,) and noise-augmented. numpy for the
        small arrays: a torch op costs more than this arithmetic."""
        k = self.cfg.motion_frames
        hist = np.zeros((k, self.cfg.dim), np.float32)
        valid = 0
        if history is not None and k:
            h = np.asarray(history.numpy() if isinstance(history, torch.Tensor) else history,
                           np.float32).reshape(-1, self.cfg.dim)[-k:]
            hist[k - len(h):] = h + self.cfg.anchor * (anchor - h)
            valid = len(h)
        hist = (hist - self._hist_mean) / self._hist_std
        noise = torch.randn((1, k, self.cfg.dim), generator=generator)
        return torch.from_numpy(hist)[None] + self.cfg.infer_history_noise * noise, torch.tensor([valid])

    @torch.inference_mode()
    def generate(self, tokens, states, expression, history, steps: int, generator=None) -> np.ndarray:
        """tokens (1,n,D), states (1,n) long, expression (1,n,E), history (1,k,DIM) or None
        -> (n, DIM) float32 motion, the commanded expression included, clamped to each range."""
        tokens, expression = _tensor(tokens), _tensor(expression)
        states = _tensor(states, torch.long)
        n = tokens.shape[1]
        if not (tokens.ndim == 3 and states.shape == (1, n) and expression.shape[:2] == (1, n)):
            raise InputError(f"generate wants tokens (1,n,D), states (1,n), expression (1,n,E); got "
                             f"{tuple(tokens.shape)}, {tuple(states.shape)}, {tuple(expression.shape)}")
        if n > self.cfg.max_frames:
            raise InputError(f"clips are at most {self.cfg.max_frames} frames, got {n}")
        commanded = explicit(expression[0].numpy())                                       # (n, DIM)
        # re-anchoring (LLIA): toward the neutral face as the current command shapes it
        hist, valid = self.history_condition(history, commanded[0], generator)
        ctx = self.net.context(tokens, states, expression, hist, valid)                    # (1, K+n, W)
        noise = torch.randn((1, n, self.cfg.dim), generator=generator)
        sampler = sample_consistency if self.kind == "student" else sample_heun
        y = sampler(self.denoiser, noise, self.sigmas(steps), ctx, generator=generator)   # (1, n, DIM)
        return face_motion.clip(y[0].numpy() * self._target_std + self._target_mean + commanded)

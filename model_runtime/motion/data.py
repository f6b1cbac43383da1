"""The motion corpus as training arrays: face motion, generated-part target, conditions, tokens.

A clip of the motion corpus (``avatar corpus --motion-only``) has speech.wav and gt.json with the
per-frame ground truth, the commanded expression and ``viseme_rounding``. Per frame:
* ``motion`` = from_corpus(gt) (T, DIM): what the face does, commanded expression included;
* ``target`` = motion - from_expression(commanded) (T, DIM): the part the model generates;
* ``tokens`` (T, A): the frozen audio encoder on the avatar's speech, computed once and cached.
Clips of a split are concatenated; ``starts`` holds each clip's first row.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.core import expression, face_motion
from avatar.core.errors import InputError
from avatar.model_runtime.corpus.behaviour import NOD_DEG, TILT_DEG
from avatar.model_runtime.corpus.reader import open_corpus

CACHE_VERSION = 1


def explicit(expr: np.ndarray) -> np.ndarray:
    """(..., DIM) the commanded expression's own motion (the corpus' nod and tilt scales)."""
    return face_motion.from_expression(expr, NOD_DEG, TILT_DEG)


def clip_motion(gt: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gt.json -> (motion (T,DIM), expression (T,E), state (T,)) of one motion-corpus clip."""
    frames = gt["frames"]
    if "viseme_rounding" not in gt:
        raise InputError("clip has no viseme_rounding: build the corpus with avatar corpus --motion-only")
    expr = np.asarray(frames["expression"], np.float32)
    motion = face_motion.from_corpus(frames, rounding=np.asarray(gt["viseme_rounding"], np.float32),
                                     squint=expr[:, expression.INDEX["eye_squint"]])
    return motion, expr, np.asarray(frames["state"], np.int64)


@torch.no_grad()
def clip_tokens(audio_encoder, speech: np.ndarray, n_frames: int) -> np.ndarray:
    """(T, A) float16 tokens of a whole clip's speech (sample 0 = frame 0), as in training."""
    wave = torch.from_numpy(np.asarray(speech, np.float32))[None]
    return audio_encoder(wave, n_frames)[0].numpy().astype(np.float16)


def encoder_tag(audio_encoder) -> str:
    """Hash of the audio encoder's weights: cached tokens are only valid for the same encoder."""
    h = hashlib.sha256()
    for key, value in sorted(audio_encoder.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().float().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class MotionArrays:
    motion: np.ndarray       # (N, DIM) float32
    target: np.ndarray       # (N, DIM) float32
    expr: np.ndarray         # (N, E) float32
    state: np.ndarray        # (N,) int64
    tokens: np.ndarray       # (N, A) float16
    starts: np.ndarray       # (clips + 1,) int64 row offsets
    clip_ids: list

    def clip(self, i: int) -> dict:
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return {k: getattr(self, k)[a:b] for k in ("motion", "target", "expr", "state", "tokens")}

    def __len__(self) -> int:
        return len(self.clip_ids)


def build_arrays(corpus_dir, split: str, audio_encoder, limit: int = 0) -> MotionArrays:
    clips = open_corpus(corpus_dir).split(split)[:limit or None]
    if not clips:
        raise InputError(f"{corpus_dir} has no {split} clips")
    parts: dict[str, list] = {k: [] for k in ("motion", "target", "expr", "state", "tokens")}
    for clip in tqdm(clips, desc=f"motion {split}", unit="clip", leave=False):
        motion, expr, state = clip_motion(clip.gt)
        parts["motion"].append(motion)
        parts["target"].append(motion - explicit(expr))
        parts["expr"].append(expr)
        parts["state"].append(state)
        parts["tokens"].append(clip_tokens(audio_encoder, clip.load_speech(), len(motion)))
    starts = np.cumsum([0] + [len(m) for m in parts["motion"]]).astype(np.int64)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    return MotionArrays(**arrays, starts=starts, clip_ids=[c.clip_id for c in clips])


def load_arrays(corpus_dir, split: str, audio_encoder, limit: int = 0) -> MotionArrays:
    """Arrays of a split, cached in the corpus directory per audio encoder."""
    tag = encoder_tag(audio_encoder)
    path = Path(corpus_dir) / f"motion_cache_{split}_{tag}{f'_{limit}' if limit else ''}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            if int(f["version"]) == CACHE_VERSION:
                return MotionArrays(**{k: f[k] for k in ("motion", "target", "expr", "state", "tokens",
                                                         "starts")}, clip_ids=json.loads(str(f["clip_ids"])))
    arrays = build_arrays(corpus_dir, split, audio_encoder, limit)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, version=CACHE_VERSION, clip_ids=json.dumps(arrays.clip_ids),
             **{k: getattr(arrays, k) for k in ("motion", "target", "expr", "state", "tokens", "starts")})
    tmp.replace(path)
    return arrays


@dataclass
class MotionBatch:
    target: torch.Tensor     # (B, T, DIM) generated part, normalised
    tokens: torch.Tensor     # (B, T, A)
    state: torch.Tensor      # (B, T) long
    expr: torch.Tensor       # (B, T, E)
    hist: torch.Tensor       # (B, K, DIM) full motion, normalised, noise-augmented
    hist_valid: torch.Tensor  # (B,) long, real history frames (the latest ones)


def history_validity(rng: np.random.Generator, starts: np.ndarray, k: int, p_drop: float) -> np.ndarray:
    """(B,) real history frames: what the clip has before ``starts``; all dropped with p_drop
    (a stream's start), and a random part of it with p_drop / 2 (the first clips after a start)."""
    valid = np.minimum(starts, k)
    u = rng.random(len(starts))
    valid = np.where(u < p_drop, 0, valid)
    partial = (u >= p_drop) & (u < 1.5 * p_drop)
    return np.where(partial, np.minimum(valid, rng.integers(1, k + 1, len(starts))), valid)


def sample_batch(data: MotionArrays, stats: dict, batch: int, frames: int, k: int, rng: np.random.Generator,
                 history_noise: float, p_drop: float = 0.25) -> MotionBatch:
    """``batch`` windows of ``frames`` frames, each with its K preceding frames as history."""
    clip = rng.integers(len(data), size=batch)
    lengths = data.starts[clip + 1] - data.starts[clip]
    start = (rng.random(batch) * (lengths - frames + 1)).astype(np.int64)
    start = np.where(rng.random(batch) < 0.1, 0, start)           # clip starts: nothing before
    rows = data.starts[clip, None] + start[:, None] + np.arange(frames)            # (B, T)
    hist_rows = np.maximum(data.starts[clip, None] + start[:, None] - k + np.arange(k),
                           data.starts[clip, None])                                 # (B, K)
    valid = history_validity(rng, start, k, p_drop)
    norm = lambda x, m, s: (x - m) / s                                               # noqa: E731
    hist = norm(data.motion[hist_rows], stats["hist_mean"], stats["hist_std"])
    hist = hist + rng.uniform(0, history_noise, (batch, 1, 1)) * rng.standard_normal(hist.shape)
    t = lambda x, dtype=torch.float32: torch.from_numpy(np.ascontiguousarray(x)).to(dtype)  # noqa: E731
    return MotionBatch(target=t(norm(data.target[rows], stats["target_mean"], stats["target_std"])),
                       tokens=t(data.tokens[rows]), state=t(data.state[rows], torch.long),
                       expr=t(data.expr[rows]), hist=t(hist), hist_valid=t(valid, torch.long))


def motion_stats(data: MotionArrays, min_std: float = 0.02) -> dict:
    """Per-channel mean and std (floored: some channels barely move) of target and history."""
    return {"target_mean": data.target.mean(0), "target_std": np.maximum(data.target.std(0), min_std),
            "hist_mean": data.motion.mean(0), "hist_std": np.maximum(data.motion.std(0), min_std)}

"""`avatar eval --motion`: the motion generator on held-out clips, fed causally like the engine.

Each test clip is generated in clips of 8 frames (2 after a start or a state switch), carrying
the last K generated frames as history, from the clip's precomputed audio tokens, its states and
its commanded expression. Scored against the ground truth (metrics.py): jaw vs aperture, rounding,
mouth motion by state, blink and nod rates by state; and drift over a 10-minute stream (9 minutes
of concatenated test clips, then its first minute again with the same clip plan and noise, so the
first and last minutes differ only by the history carried into the last one: that is the drift).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from avatar.core.errors import InputError

from . import metrics
from .data import MotionArrays, load_arrays
from .generator import MotionGenerator

FIRST_CLIP, CLIP = 2, 8
DRIFT_MINUTES = 10
TEACHER_STEPS = 16           # the teacher's reference: Heun, 16 steps (31 network calls a clip)


def clip_plan(state: np.ndarray, restarts: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    """(start, n) clips: 2 frames after the start, each state switch and each frame in ``restarts``,
    else 8 (LLIA); a clip never runs over a switch or restart."""
    cuts = {int(c) for c in np.nonzero(state[1:] != state[:-1])[0] + 1} | set(restarts) | {len(state)}
    plan, t = [], 0
    while t < len(state):
        n = FIRST_CLIP if t == 0 or t in cuts else CLIP
        n = min(n, min(c for c in cuts if c > t) - t)
        plan.append((t, n))
        t += n
    return plan


def stream(gen: MotionGenerator, tokens, state, expr, steps: int, seed: int = 0, period: int = 0,
           restarts: tuple[int, ...] = ()) -> np.ndarray:
    """(N, DIM) motion generated causally over (N, ...) conditions, history carried like the
    engine. A clip starting at frame a draws its noise from seed and a (a mod ``period`` if set)."""
    out, history = [], None
    k = gen.motion_frames
    for a, n in clip_plan(state, restarts):
        g = torch.Generator().manual_seed(seed * 1_000_003 + (a % period if period else a))
        m = gen.generate(torch.from_numpy(tokens[None, a:a + n].astype(np.float32)),
                         torch.from_numpy(state[None, a:a + n]), torch.from_numpy(expr[None, a:a + n]),
                         history, steps, g)
        out.append(m)
        past = m if history is None else np.concatenate([history[0], m])
        history = past[-k:][None]
    return np.concatenate(out)


def score_clips(gen: MotionGenerator, data: MotionArrays, steps: int, seeds: int = 1) -> dict:
    """Every clip generated ``seeds`` times (rates of rare events need the minutes), pooled."""
    jaw, rnd, motions = [], [], []
    for seed in range(seeds):
        for i in range(len(data)):
            c = data.clip(i)
            m = stream(gen, c["tokens"], c["state"], c["expr"], steps, seed * 100_003 + i)
            speaking = c["state"] == 2
            jaw.append((metrics.channel(m, "jawOpen"), metrics.channel(c["motion"], "jawOpen"), speaking))
            rnd.append((metrics.rounding(m), metrics.rounding(c["motion"]), speaking))
            motions.append(m)
    m = np.concatenate(motions)
    state, expr = np.tile(data.state, seeds), np.tile(data.expr, (seeds, 1))
    mm = metrics.mouth_motion(m, state)
    return {
        "jaw": metrics.lagged_r(jaw), "rounding": metrics.lagged_r(rnd),
        "mouth_motion": mm,
        "still_ratio": {s: mm[s] / mm["speaking"] for s in ("listening", "idle")},
        "blinks_per_min": metrics.rates_per_state(metrics.blink_onsets(m, expr), state),
        "nods_per_min": metrics.rates_per_state(metrics.nod_peaks(m, expr), state),
    }


def ground_truth_rates(data: MotionArrays) -> dict:
    gt = data.motion
    mm = metrics.mouth_motion(gt, data.state)
    return {"mouth_motion": mm, "still_ratio": {s: mm[s] / mm["speaking"] for s in ("listening", "idle")},
            "blinks_per_min": metrics.rates_per_state(metrics.blink_onsets(gt, data.expr), data.state),
            "nods_per_min": metrics.rates_per_state(metrics.nod_peaks(gt, data.expr), data.state)}


def drift_stream(data: MotionArrays) -> dict:
    """10 minutes of conditions: test clips concatenated to 9 minutes (repeated if the split is
    shorter), then the first minute again."""
    body = (DRIFT_MINUTES - 1) * 60 * metrics.FPS
    minute = 60 * metrics.FPS
    reps = -(-body // len(data.state))
    cat = lambda x: np.concatenate([x] * reps)[:body]               # noqa: E731
    out = {}
    for key in ("tokens", "state", "expr"):
        x = cat(getattr(data, key))
        out[key] = np.concatenate([x, x[:minute]])
    return out


def evaluate_generator(gen: MotionGenerator, data: MotionArrays, steps: int, drift: bool = True,
                       seeds: int = 1) -> dict:
    t0 = time.perf_counter()
    report = score_clips(gen, data, steps, seeds)
    report["generate_s"] = time.perf_counter() - t0
    if drift:
        s = drift_stream(data)
        body = len(s["state"]) - 60 * metrics.FPS
        # the last minute repeats the first one's input, clip plan and noise: only the carried
        # history differs, so any change of its statistics is drift
        report["drift_10min"] = metrics.drift(stream(gen, s["tokens"], s["state"], s["expr"], steps, seed=99,
                                                     period=body, restarts=(body,)))
    return report


def generate_speed(gen: MotionGenerator, data: MotionArrays, steps: int = 2, repeats: int = 200) -> dict:
    """ms per frame of ``generate`` for clips of 1, 4 and 8 frames (median and best of ``repeats``,
    after a warm-up), history carried; this process's torch threads."""
    out = {}
    tokens = torch.from_numpy(data.tokens[None, :8].astype(np.float32))
    state, expr = torch.from_numpy(data.state[None, :8]), torch.from_numpy(data.expr[None, :8])
    history = data.motion[None, :gen.motion_frames]
    for n in (1, 4, 8):
        times = []
        for i in range(repeats + 20):
            t0 = time.perf_counter()
            gen.generate(tokens[:, :n], state[:, :n], expr[:, :n], history, steps, torch.Generator().manual_seed(i))
            times.append(time.perf_counter() - t0)
        times = np.asarray(times[20:]) * 1000 / n
        out[f"clip{n}"] = {"median_ms_per_frame": float(np.median(times)), "best_ms_per_frame": float(times.min())}
    return out


def flatten(report: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in report.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


HIGHER_BETTER = ("jaw.r_lag0", "rounding.r_lag0")
LOWER_BETTER = ("still_ratio.listening", "still_ratio.idle", "drift_10min.worst_mean_rel",
                "drift_10min.worst_std_rel")
RATES = ("blinks_per_min.idle", "blinks_per_min.listening", "blinks_per_min.speaking",
         "nods_per_min.listening")


def relative_gaps(student: dict, teacher: dict, truth: dict | None = None) -> dict:
    """How much worse than the teacher the student is, relative to the teacher's value, per metric
    (0 where it is as good or better): lower r; higher stillness ratio or drift; a rate further
    from the ground truth's (or, without ``truth``, any rate difference)."""
    s, t, g = flatten(student), flatten(teacher), flatten(truth or {})
    gaps = {}
    for k in HIGHER_BETTER + LOWER_BETTER + RATES:
        if k not in s or k not in t:
            continue
        if k in HIGHER_BETTER:
            worse = t[k] - s[k]
        elif k in LOWER_BETTER:
            worse = s[k] - t[k]
        else:
            worse = abs(s[k] - g[k]) - abs(t[k] - g[k]) if k in g else abs(s[k] - t[k])
        gaps[k] = max(0.0, worse) / max(abs(t[k]), 1e-9)
    return gaps


def evaluate_motion(checkpoints: dict, corpus: str, steps: tuple[int, ...], split: str = "test",
                    clips: int = 0, seeds: int = 3, log=print) -> dict:
    """checkpoints: label -> path. Each at each step count (a teacher also at TEACHER_STEPS)."""
    gens = {label: MotionGenerator.load(path) for label, path in checkpoints.items()}
    if not gens:
        raise InputError("no checkpoint to evaluate")
    audio = next(iter(gens.values())).audio
    data = load_arrays(corpus, split, audio, clips)
    report = {"split": split, "clips": len(data), "frames": int(len(data.state)), "seeds": seeds,
              "ground_truth": ground_truth_rates(data), "models": {}}
    for label, gen in gens.items():
        counts = tuple(steps) + ((TEACHER_STEPS,) if gen.kind == "teacher" else ())
        for n in counts:
            key = f"{label}@{n}"
            report["models"][key] = evaluate_generator(gen, data, n, seeds=seeds)
            if n == 2:
                report["models"][key]["speed"] = generate_speed(gen, data)
            if log:
                log(f"{key}: {format_row(report['models'][key])}")
    teacher_ref = next((v for k, v in report["models"].items() if k.endswith(f"@{TEACHER_STEPS}")), None)
    if teacher_ref is not None:
        report["gap_vs_teacher"] = {k: relative_gaps(v, teacher_ref, report["ground_truth"])
                                    for k, v in report["models"].items() if not k.endswith(f"@{TEACHER_STEPS}")}
    return report


def format_row(r: dict) -> str:
    f = flatten(r)
    return (f"jaw r {f['jaw.r_lag0']:.3f} (best lag {f['jaw.best_lag']:+.0f}), rounding r "
            f"{f['rounding.r_lag0']:.3f}, still listen/idle {f['still_ratio.listening']:.3f}/"
            f"{f['still_ratio.idle']:.3f}, blinks/min idle/listen/speak {f['blinks_per_min.idle']:.1f}/"
            f"{f['blinks_per_min.listening']:.1f}/{f['blinks_per_min.speaking']:.1f}, nods/min listening "
            f"{f['nods_per_min.listening']:.1f}, drift mean/std {f.get('drift_10min.worst_mean_rel', float('nan')):.3f}/"
            f"{f.get('drift_10min.worst_std_rel', float('nan')):.3f}")

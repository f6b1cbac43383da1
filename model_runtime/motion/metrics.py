"""Motion metrics on (N, DIM) face motion against the corpus ground truth (pure numpy).

Blinks and nods are found with one detector applied alike to generated and ground-truth motion:
* a blink: the lid (eyeBlink/eyeWide as to_corpus' eye_open) below half the commanded lid
  (counted again only after it reopened above 3/4);
* a nod: a peak of >= 2 deg in head pitch after removing the commanded nod and a 0.5 s moving
  trend (corpus nods are 3-7 deg bumps of 0.18 s).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from avatar.core import expression, face_motion
from avatar.core.state_machine import State
from avatar.core.timebase import FPS
from avatar.model_runtime.corpus.behaviour import NOD_DEG

MOUTH = ("jawOpen", "mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthStretchRight")
STATES = {int(s): s.label for s in State}
NOD_MIN_DEG = 2.0
BLINK_LID = 0.5
REOPEN_LID = 0.75


def channel(motion: np.ndarray, name: str) -> np.ndarray:
    return motion[:, face_motion.INDEX[name]]


def rounding(motion: np.ndarray) -> np.ndarray:
    return channel(motion, "mouthFunnel") + channel(motion, "mouthPucker")


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def lagged_r(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], max_lag: int = 3) -> dict:
    """r of x[t + lag] against y[t] pooled over clips, on frames where mask[t]; pairs of (x, y, mask).
    -> {"r_lag0", "best_lag", "r_best"}."""
    rs = {}
    for lag in range(-max_lag, max_lag + 1):
        xs, ys = [], []
        for x, y, mask in pairs:
            t = np.nonzero(mask)[0]
            t = t[(t + lag >= 0) & (t + lag < len(x))]
            xs.append(x[t + lag])
            ys.append(y[t])
        rs[lag] = pearson(np.concatenate(xs), np.concatenate(ys))
    best = max(rs, key=lambda k: rs[k])
    return {"r_lag0": rs[0], "best_lag": best, "r_best": rs[best]}


def mouth_motion(motion: np.ndarray, state: np.ndarray) -> dict:
    """Mean |frame-to-frame change| of the mouth channels per state."""
    idx = [face_motion.INDEX[n] for n in MOUTH]
    step = np.abs(np.diff(motion[:, idx], axis=0)).sum(1)                     # (N-1,)
    s = state[1:]
    return {name: float(step[s == k].mean()) if (s == k).any() else float("nan") for k, name in STATES.items()}


def commanded_lid(expr: np.ndarray) -> np.ndarray:
    """(N,) lid opening the command asks for (behaviour.compose's lid_cmd)."""
    e = expr[:, expression.INDEX["eye_open"]]
    return 1.0 + np.where(e > 0, 0.5, 1.0) * e


def blink_onsets(motion: np.ndarray, expr: np.ndarray) -> np.ndarray:
    """Frames where the lid falls below BLINK_LID of the commanded lid, after having reopened
    above REOPEN_LID since the last onset (hysteresis: a jittering lid is one blink)."""
    lid = face_motion.to_corpus(motion)["eye_open"] / np.maximum(commanded_lid(expr), 0.05)
    onsets, armed = [], True
    for t, v in enumerate(lid):
        if armed and v < BLINK_LID:
            onsets.append(t)
            armed = False
        elif v > REOPEN_LID:
            armed = True
    return np.asarray(onsets, np.int64)


def nod_peaks(motion: np.ndarray, expr: np.ndarray) -> np.ndarray:
    pitch = np.degrees(channel(motion, "headPitch")) - NOD_DEG * expr[:, expression.INDEX["head_nod"]]
    bumps = pitch - gaussian_filter1d(pitch, 0.5 * FPS)
    return find_peaks(bumps, height=NOD_MIN_DEG, distance=8)[0]


def rates_per_state(events: np.ndarray, state: np.ndarray) -> dict:
    """Events per minute spent in each state."""
    out = {}
    for k, name in STATES.items():
        minutes = (state == k).sum() / FPS / 60
        out[name] = float((state[events] == k).sum() / minutes) if minutes > 0 else float("nan")
    return out


def drift(motion: np.ndarray, window: int = 60 * FPS, min_std: float = 1e-3) -> dict:
    """First vs last ``window`` frames, per channel that moves: |mean change| relative to
    max(|first mean|, first std), and |std ratio - 1|. -> worst channel of each."""
    first, last = motion[:window], motion[-window:]
    m0, m1, s0, s1 = first.mean(0), last.mean(0), first.std(0), last.std(0)
    moving = s0 > min_std
    mean_rel = np.abs(m1 - m0) / np.maximum(np.abs(m0), s0)
    std_rel = np.abs(s1 / np.maximum(s0, 1e-9) - 1)
    worst = lambda v: (face_motion.NAMES[int(np.argmax(np.where(moving, v, -1)))],          # noqa: E731
                       float(np.max(np.where(moving, v, -1))))
    (mean_name, mean_val), (std_name, std_val) = worst(mean_rel), worst(std_rel)
    return {"worst_mean_channel": mean_name, "worst_mean_rel": mean_val,
            "worst_std_channel": std_name, "worst_std_rel": std_val}

"""What the face should show: named expressions, valence/arousal and per-state defaults as control targets.

All vectors are (DIM,) float arrays in ``avatar.core.expression.NAMES`` order.
The named table covers every constant of msg/Expression.msg (ROS4HRI
hri_msgs/Expression); docs/AUDIO_AND_STATE.md prints it. Values were chosen by
hand from the usual facial-action descriptions of each emotion (e.g. happy =
lip-corner pull + cheek raise = smile + eye_squint; surprise = brow raise +
upper-lid raise), within the ranges of ``avatar.core.expression``.
"""
import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from avatar.core.errors import InputError
from avatar.core.expression import CONTROLS, INDEX
from avatar.core.state_machine import State

NEUTRAL = np.array([c.neutral for c in CONTROLS], np.float64)
LOW = np.array([c.low for c in CONTROLS], np.float64)
HIGH = np.array([c.high for c in CONTROLS], np.float64)

# Only the controls that differ from neutral are listed.
_NAMED = {
    "neutral": {},
    "happy": {"smile": 0.8, "eye_squint": 0.3, "brow_raise": 0.1},
    "sad": {"frown": 0.6, "brow_raise": 0.3, "eye_open": -0.3, "gaze_y": 0.3, "head_nod": 0.2},
    "angry": {"brow_furrow": 0.8, "frown": 0.4, "eye_squint": 0.3, "eye_open": 0.1},
    "surprised": {"brow_raise": 0.9, "eye_open": 0.8},
    "disgusted": {"frown": 0.5, "brow_furrow": 0.5, "eye_squint": 0.6, "head_tilt": -0.1},
    "scared": {"brow_raise": 0.7, "brow_furrow": 0.3, "eye_open": 0.7, "frown": 0.3},
    "pleading": {"brow_raise": 0.6, "frown": 0.2, "eye_open": 0.3, "head_tilt": 0.3, "gaze_y": -0.2},
    "vulnerable": {"brow_raise": 0.4, "frown": 0.2, "gaze_y": 0.3, "head_nod": 0.15},
    "despaired": {"frown": 0.8, "brow_raise": 0.5, "eye_open": -0.4, "gaze_y": 0.4, "head_nod": 0.3},
    "guilty": {"frown": 0.3, "eye_open": -0.2, "gaze_x": -0.2, "gaze_y": 0.6, "head_nod": 0.3},
    "disappointed": {"frown": 0.5, "eye_open": -0.2, "gaze_y": 0.2},
    "embarrassed": {"smile": 0.3, "gaze_x": 0.3, "gaze_y": 0.5, "head_nod": 0.2, "head_tilt": 0.2},
    "horrified": {"brow_raise": 0.9, "brow_furrow": 0.3, "eye_open": 1.0, "frown": 0.6},
    "skeptical": {"smile": 0.1, "brow_furrow": 0.3, "eye_squint": 0.4, "head_tilt": 0.25},
    "annoyed": {"frown": 0.3, "brow_furrow": 0.5, "eye_squint": 0.2, "gaze_x": 0.2},
    "furious": {"frown": 0.7, "brow_furrow": 1.0, "eye_squint": 0.4, "eye_open": 0.3, "head_nod": -0.1},
    "suspicious": {"brow_furrow": 0.4, "eye_squint": 0.6, "gaze_x": 0.3},
    "rejected": {"frown": 0.5, "eye_open": -0.3, "gaze_y": 0.5, "head_nod": 0.2},
    "bored": {"eye_open": -0.4, "gaze_x": 0.3, "head_tilt": 0.2},
    "tired": {"eye_open": -0.6, "gaze_y": 0.2, "head_nod": 0.15},
    "asleep": {"eye_open": -1.0, "head_nod": 0.4, "head_tilt": 0.2},
    "confused": {"brow_raise": 0.3, "brow_furrow": 0.4, "eye_squint": 0.2, "head_tilt": 0.35},
    "amazed": {"smile": 0.4, "brow_raise": 0.8, "eye_open": 0.7},
    "excited": {"smile": 0.9, "brow_raise": 0.5, "eye_open": 0.5},
}
NAMED: Mapping[str, Mapping[str, float]] = MappingProxyType({k: MappingProxyType(v) for k, v in _NAMED.items()})


def vector(values: Mapping[str, float]) -> np.ndarray:
    """Neutral vector with the given controls set (names must be canonical)."""
    v = NEUTRAL.copy()
    for name, value in values.items():
        v[INDEX[name]] = value
    return np.clip(v, LOW, HIGH)


def named_expression(name: str, confidence: float = 1.0) -> np.ndarray:
    """A named ROS4HRI expression, pulled towards neutral by ``confidence`` (0..1)."""
    key = name.strip().lower()
    if key not in NAMED:
        raise InputError(f"unknown expression {name!r} (known: {', '.join(sorted(NAMED))})")
    return NEUTRAL + _confidence(confidence) * (vector(NAMED[key]) - NEUTRAL)


def valence_arousal(valence: float, arousal: float, confidence: float = 1.0) -> np.ndarray:
    """Continuous emotion (each -1..1, clipped) -> controls, scaled by ``confidence``.

    Positive valence smiles (with a Duchenne squint), negative valence frowns;
    arousal opens the eyes and raises the brows; negative valence with high
    arousal furrows the brows (anger, fear); with low arousal the gaze and head
    drop (sadness).
    """
    if not all(math.isfinite(x) for x in (valence, arousal)):
        raise InputError(f"valence/arousal must be finite, got {valence}, {arousal}")
    v, a = float(np.clip(valence, -1, 1)), float(np.clip(arousal, -1, 1))
    vp, vn, ap, an = max(v, 0.0), max(-v, 0.0), max(a, 0.0), max(-a, 0.0)
    target = vector({
        "smile": 0.9 * vp, "eye_squint": 0.35 * vp,
        "frown": 0.7 * vn, "brow_furrow": 0.8 * vn * ap,
        "brow_raise": 0.6 * ap * (1.0 - 0.5 * vn),
        "eye_open": 0.6 * a,
        "gaze_y": 0.4 * vn * an, "head_nod": 0.25 * vn * an,
    })
    return NEUTRAL + _confidence(confidence) * (target - NEUTRAL)


def _confidence(c: float) -> float:
    if not math.isfinite(c):
        raise InputError(f"confidence must be finite, got {c}")
    return float(np.clip(c, 0.0, 1.0))


# -- state-dependent defaults -------------------------------------------------

STATE_BASE: Mapping[State, Mapping[str, float]] = MappingProxyType({
    State.IDLE: MappingProxyType({"smile": 0.1, "eye_open": -0.1}),                             # relaxed
    State.LISTENING: MappingProxyType({"brow_raise": 0.15, "eye_open": 0.15, "head_tilt": 0.1}),  # attentive
    State.SPEAKING: MappingProxyType({"brow_raise": 0.05, "eye_open": 0.05}),   # engaged; the mouth follows audio
})


def state_default(state: State, t_in_state: float, t: float, nod_amplitude: float = 0.15,
                  nod_period_s: float = 2.5, wander: float = 0.15) -> np.ndarray:
    """Default controls for ``state`` at ``t`` (``t_in_state`` s after entering it).

    Listening adds small nods (a raised-cosine dip of 0.6 s every ``nod_period_s``,
    the first one 0.5 s after the user starts); idle adds a slow gaze wander.
    """
    target = vector(STATE_BASE[state])
    if state == State.LISTENING and nod_amplitude > 0:
        phase = (t_in_state - 0.5) % nod_period_s
        if t_in_state >= 0.5 and phase < 0.6:
            target[INDEX["head_nod"]] += nod_amplitude * 0.5 * (1.0 - math.cos(2 * math.pi * phase / 0.6))
    elif state == State.IDLE and wander > 0:
        # Incommensurate periods, so the pattern does not visibly repeat.
        target[INDEX["gaze_x"]] += wander * math.sin(2 * math.pi * t / 7.3)
        target[INDEX["gaze_y"]] += 0.4 * wander * math.sin(2 * math.pi * t / 11.1)
    return np.clip(target, LOW, HIGH)


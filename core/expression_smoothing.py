"""The expression controller: layered targets and smooth, rate-limited motion towards them.

Layers, bottom to top: the state default (relaxed / attentive with nods /
engaged), plus the emotion from /robot_face/expression (its offset from
neutral), then fine-grained overrides that pin single controls. The output
moves towards that target with an exponential ease (``smoothing_s``) and never
faster than each control's ``max_rates`` (units per second), so it never jumps.
"""
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from avatar.core.errors import InputError
from avatar.core.expression import INDEX, NAMES, checked_control, named_value
from avatar.core.expression_mapping import HIGH, LOW, NEUTRAL, named_expression, state_default, valence_arousal
from avatar.core.state_machine import State

# Units per second. Gaze saccades are fast, head motion slow; lids between.
DEFAULT_RATES: Mapping[str, float] = MappingProxyType({
    "smile": 1.5, "frown": 1.5, "brow_raise": 2.0, "brow_furrow": 2.0, "eye_open": 3.0,
    "eye_squint": 2.0, "gaze_x": 4.0, "gaze_y": 4.0, "head_nod": 1.5, "head_tilt": 1.0,
})


def parse_rates(items: list[str] | tuple[str, ...], scale: float = 1.0) -> np.ndarray:
    """["head_nod=0.8", ...] over the defaults, times ``scale`` -> (DIM,) rates."""
    rates = dict(DEFAULT_RATES)
    for item in items:
        name, rate = named_value(item, "rate override")
        if not rate > 0 or not math.isfinite(rate):
            raise InputError(f"rate override {item!r}: the rate must be positive and finite")
        rates[name] = rate
    return np.array([rates[n] for n in NAMES]) * scale


class RateLimiter:
    """First-order ease towards a target with a per-control speed limit."""

    def __init__(self, max_rates: np.ndarray, smoothing_s: float, start: np.ndarray | None = None):
        self.max_rates = np.asarray(max_rates, np.float64)
        self.smoothing_s = smoothing_s
        self.value = NEUTRAL.copy() if start is None else np.asarray(start, np.float64).copy()

    def step(self, target: np.ndarray, dt: float) -> np.ndarray:
        dt = max(0.0, dt)
        gain = 1.0 if self.smoothing_s <= 0 else 1.0 - math.exp(-dt / self.smoothing_s)
        delta = (target - self.value) * gain
        # Snap the last tiny step so that the target is reached exactly, not only asymptotically.
        close = np.abs(target - self.value) < 1e-3
        delta[close] = (target - self.value)[close]
        limit = self.max_rates * dt
        self.value = self.value + np.clip(delta, -limit, limit)
        return self.value.copy()


@dataclass
class ControllerConfig:
    max_rates: np.ndarray = field(default_factory=lambda: parse_rates([]))
    smoothing_s: float = 0.15
    expression_timeout_s: float = 0.0     # 0: hold the last expression until the next one
    override_timeout_s: float = 0.0       # 0: hold overrides until released (NaN) or replaced
    state_defaults: bool = True
    nod_amplitude: float = 0.15
    nod_period_s: float = 2.5


class ExpressionController:
    def __init__(self, cfg: ControllerConfig, t: float):
        self.cfg = cfg
        self.smoother = RateLimiter(cfg.max_rates, cfg.smoothing_s)
        self._t_last = t
        self._emotion = NEUTRAL.copy()
        self._emotion_t = t
        self._overrides: dict[int, tuple[float, float]] = {}     # index -> (value, time set)
        self._state, self._state_t = State.IDLE, t

    def reconfigure(self, cfg: ControllerConfig) -> None:
        """New limits and options; the current pose and the layers stay."""
        self.cfg = cfg
        self.smoother.max_rates = np.asarray(cfg.max_rates, np.float64)
        self.smoother.smoothing_s = cfg.smoothing_s

    def set_expression(self, name: str, confidence: float, t: float) -> None:
        self._emotion, self._emotion_t = named_expression(name, confidence), t

    def set_valence_arousal(self, valence: float, arousal: float, confidence: float, t: float) -> None:
        self._emotion, self._emotion_t = valence_arousal(valence, arousal, confidence), t

    def set_overrides(self, names, values, t: float, warn=None) -> None:
        """Pin controls to values; NaN releases one. Values go through ``checked_control`` (out
        of range: clamped, ``warn`` told); an unknown name or an infinity is an InputError, and
        then nothing of the message is applied."""
        if len(names) != len(values):
            raise InputError(f"{len(names)} names but {len(values)} values")
        unknown = [name for name in names if name not in INDEX]
        if unknown:
            raise InputError(f"unknown controls {unknown}; known: {list(NAMES)}")
        pins = [(INDEX[name], value if math.isnan(value) else checked_control(name, value, warn))
                for name, value in zip(names, values)]
        for i, value in pins:
            if math.isnan(value):
                self._overrides.pop(i, None)
            else:
                self._overrides[i] = (value, t)

    def set_state(self, state: State, t: float) -> None:
        if state != self._state:
            self._state, self._state_t = state, t

    def target(self, t: float) -> np.ndarray:
        c = self.cfg
        base = (state_default(self._state, t - self._state_t, t, c.nod_amplitude, c.nod_period_s)
                if c.state_defaults else NEUTRAL.copy())
        emotion = self._emotion
        if c.expression_timeout_s > 0 and t - self._emotion_t > c.expression_timeout_s:
            emotion = NEUTRAL
        target = np.clip(base + (emotion - NEUTRAL), LOW, HIGH)
        for i, (value, since) in list(self._overrides.items()):
            if c.override_timeout_s > 0 and t - since > c.override_timeout_s:
                del self._overrides[i]
            else:
                target[i] = value
        return target

    def step(self, t: float) -> np.ndarray:
        """Advance to time ``t``: the controls to publish, (DIM,) in NAMES order."""
        dt, self._t_last = t - self._t_last, t
        return self.smoother.step(self.target(t), dt)

"""core.expression_mapping and core.expression_smoothing: tables, valence/arousal, defaults, rate limits."""
import math
import re
from pathlib import Path

import numpy as np
import pytest

from avatar.core.errors import InputError
from avatar.core.expression import INDEX, NAMES
from avatar.core.expression_mapping import (HIGH, LOW, NAMED, NEUTRAL, named_expression, state_default,
                                            valence_arousal)
from avatar.core.expression_smoothing import (DEFAULT_RATES, ControllerConfig, ExpressionController, RateLimiter,
                                              parse_rates)
from avatar.core.state_machine import State

MSG = Path(__file__).resolve().parent.parent / "msg" / "Expression.msg"


def _msg_constants() -> set[str]:
    return set(re.findall(r"^string [A-Z_]+=(\w+)$", MSG.read_text(), re.MULTILINE))


def test_every_expression_constant_is_mapped_with_canonical_names():
    constants = _msg_constants()
    assert len(constants) == 25 and constants == set(NAMED)
    for name, controls in NAMED.items():
        assert set(controls) <= set(NAMES), name
        v = named_expression(name)
        assert np.all(v >= LOW) and np.all(v <= HIGH)
        assert (name == "neutral") == np.allclose(v, NEUTRAL), name
    vectors = {name: tuple(named_expression(name)) for name in NAMED}
    assert len(set(vectors.values())) == len(vectors)     # no two expressions look the same


def test_named_expression_confidence_and_errors():
    happy = named_expression("happy")
    assert happy[INDEX["smile"]] == pytest.approx(0.8)
    assert np.allclose(named_expression("HAPPY ", 0.5), NEUTRAL + 0.5 * (happy - NEUTRAL))
    assert np.allclose(named_expression("happy", 0.0), NEUTRAL)
    assert np.allclose(named_expression("happy", 7.0), happy)       # clipped to 1
    with pytest.raises(InputError, match="unknown expression 'grumpy'.*happy"):
        named_expression("grumpy")
    with pytest.raises(InputError, match="confidence"):
        named_expression("happy", math.nan)


def test_valence_arousal_quadrants():
    joy, anger, sadness, calm = (valence_arousal(1, 0.5), valence_arousal(-1, 1), valence_arousal(-1, -1),
                                 valence_arousal(0, -1))
    assert joy[INDEX["smile"]] > 0.8 and joy[INDEX["frown"]] == 0
    assert anger[INDEX["brow_furrow"]] > 0.7 and anger[INDEX["frown"]] > 0.6
    assert sadness[INDEX["gaze_y"]] > 0.3 and sadness[INDEX["head_nod"]] > 0.2 and sadness[INDEX["eye_open"]] < 0
    assert calm[INDEX["eye_open"]] < -0.5
    assert np.allclose(valence_arousal(0, 0), NEUTRAL)
    assert np.allclose(valence_arousal(1, 1, 0.25), NEUTRAL + 0.25 * (valence_arousal(1, 1) - NEUTRAL))
    for v in np.linspace(-3, 3, 13):
        for a in np.linspace(-3, 3, 13):
            x = valence_arousal(v, a)
            assert np.all(x >= LOW) and np.all(x <= HIGH)
    with pytest.raises(InputError):
        valence_arousal(math.inf, 0)


def test_state_defaults_nod_while_listening_and_wander_while_idle():
    ts = np.arange(0, 10, 0.04)
    nods = np.array([state_default(State.LISTENING, t, t)[INDEX["head_nod"]] for t in ts])
    assert nods.max() == pytest.approx(0.15, abs=0.01) and nods.min() == 0.0
    assert 3 <= np.sum(np.diff((nods > 0.05).astype(int)) == 1) <= 4      # a nod every 2.5 s
    listening = state_default(State.LISTENING, 0.0, 0.0)
    assert listening[INDEX["eye_open"]] > 0 and listening[INDEX["brow_raise"]] > 0
    gaze = np.array([state_default(State.IDLE, t, t)[INDEX["gaze_x"]] for t in ts])
    assert 0.1 < gaze.max() <= 0.15 and np.abs(np.diff(gaze)).max() < 0.01
    assert not np.any([state_default(State.LISTENING, t, t, nod_amplitude=0)[INDEX["head_nod"]] for t in ts])


def test_rate_limiter_never_jumps_and_converges():
    rates = parse_rates([])
    rng = np.random.default_rng(0)
    lim = RateLimiter(rates, smoothing_s=0.1)
    for _ in range(20):
        target = rng.uniform(LOW, HIGH)
        prev = lim.value.copy()
        for _ in range(200):                                   # 8 s at 25 Hz, with jittery dt
            dt = 0.04 * rng.uniform(0.5, 1.5)
            out = lim.step(target, dt)
            assert np.all(np.abs(out - prev) <= rates * dt + 1e-12)
            prev = out
        assert np.array_equal(out, target)
    slow = RateLimiter(np.full(len(NAMES), 0.5), smoothing_s=0.0)
    out = [slow.step(HIGH, 0.04) for _ in range(10)]
    assert np.allclose(out[0] - NEUTRAL, 0.02)               # a pure ramp at the limit


def test_parse_rates():
    rates = parse_rates(["head_nod=0.5", " gaze_x = 8 "], scale=2.0)
    assert rates[INDEX["head_nod"]] == 1.0 and rates[INDEX["gaze_x"]] == 16.0
    assert rates[INDEX["smile"]] == 2 * DEFAULT_RATES["smile"]
    for bad, why in [("nose=1", "control"), ("smile", "control"), ("smile=fast", "not a number"),
                     ("smile=0", "positive"), ("smile=inf", "positive")]:
        with pytest.raises(InputError, match=why):
            parse_rates([bad])


def _run(ctl, t0, seconds, dt=0.04):
    out, t = None, t0
    for _ in range(int(seconds / dt)):
        t += dt
        out = ctl.step(t)
    return out, t


def test_controller_layers_overrides_and_timeouts():
    ctl = ExpressionController(ControllerConfig(state_defaults=False, expression_timeout_s=6.0,
                                                override_timeout_s=3.0), t=0.0)
    ctl.set_expression("happy", 1.0, 0.0)
    out, t = _run(ctl, 0.0, 1.5)
    assert np.allclose(out, named_expression("happy"))
    with pytest.raises(InputError, match="unknown controls \\['nose'\\]"):
        ctl.set_overrides(["smile", "nose"], [0.9, 1.0], t)
    assert np.allclose(ctl.target(t), named_expression("happy"))                       # nothing applied
    notes = []
    ctl.set_overrides(["smile", "gaze_x"], [0.2, 5.0], t, notes.append)
    assert notes == ["gaze_x=5.0 is outside [-1, 1]: clamped to 1"]
    out, t = _run(ctl, t, 1.5)                                                          # t = 3.0
    assert out[INDEX["smile"]] == pytest.approx(0.2) and out[INDEX["gaze_x"]] == 1.0    # clamped to range
    ctl.set_overrides(["gaze_x"], [math.nan], t)                                        # NaN releases
    out, t = _run(ctl, t, 1.2)                                                          # t = 4.2
    assert out[INDEX["gaze_x"]] == 0.0 and out[INDEX["smile"]] == pytest.approx(0.2)
    out, t = _run(ctl, t, 1.7)                     # t = 5.9: the smile override timed out at 4.5
    assert out[INDEX["smile"]] == pytest.approx(0.8)
    out, t = _run(ctl, t, 2.0)                     # and the expression at 6.0
    assert np.allclose(out, NEUTRAL)
    with pytest.raises(InputError, match="2 names but 1 values"):
        ctl.set_overrides(["smile", "frown"], [0.1], t)
    with pytest.raises(InputError, match="not a finite number"):
        ctl.set_overrides(["smile"], [math.inf], t)


def test_controller_state_defaults_add_to_the_emotion():
    ctl = ExpressionController(ControllerConfig(), t=0.0)
    ctl.set_valence_arousal(0.5, 0.0, 1.0, 0.0)
    ctl.set_state(State.LISTENING, 0.0)
    target = ctl.target(0.0)
    assert target[INDEX["smile"]] == pytest.approx(0.45) and target[INDEX["eye_open"]] == pytest.approx(0.15)
    nods = [ctl.step(t)[INDEX["head_nod"]] for t in np.arange(0.04, 5, 0.04)]
    assert max(nods) > 0.1


def test_docs_table_matches_the_code():
    """docs/AUDIO_AND_STATE.md prints NAMED; keep the two from drifting apart."""
    doc = (MSG.parent.parent / "docs" / "AUDIO_AND_STATE.md").read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(NAMES) + 1 and cells[0] in NAMED:
            rows[cells[0]] = {n: float(c) for n, c in zip(NAMES, cells[1:]) if c}
    assert rows == NAMED

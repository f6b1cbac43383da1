"""The face-motion vector: the corpus mapping (from_corpus / to_corpus) and the commanded part.

The ground truth comes from the corpus' own behaviour.compose on a simulated clip, so the mapping
is checked against what the corpus renders, not against numbers copied from the code.
"""
import numpy as np
import pytest

from avatar.core import expression, face_motion
from avatar.core.face_motion import INDEX, from_corpus, from_expression, to_corpus
from avatar.model_runtime.corpus import behaviour
from avatar.model_runtime.corpus.behaviour import NOD_DEG, TILT_DEG

E = expression.INDEX


def frames(n=4, **values):
    """gt frames with neutral defaults, one value per key (broadcast to n frames)."""
    base = {"mouth_open": 0.0, "mouth_width": 1.0, "smile": 0.0, "brow": 0.0, "eye_open": 1.0,
            "gaze_x": 0.0, "gaze_y": 0.0, "head_yaw": 0.0, "head_pitch": 0.0, "head_roll": 0.0}
    base.update(values)
    return {k: np.full(n, v, np.float32) for k, v in base.items()}


def test_neutral_frames_map_to_neutral_motion():
    np.testing.assert_allclose(from_corpus(frames()), np.tile(face_motion.neutral(), (4, 1)), atol=1e-6)


@pytest.mark.parametrize("key,value,channels", [
    ("mouth_open", 0.6, {"jawOpen": 0.6}),
    ("smile", 0.5, {"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5}),
    ("smile", -0.4, {"mouthFrownLeft": 0.4, "mouthFrownRight": 0.4}),
    ("brow", 0.7, {"browInnerUp": 0.7, "browOuterUpLeft": 0.7, "browOuterUpRight": 0.7}),
    ("brow", -0.3, {"browDownLeft": 0.3, "browDownRight": 0.3}),
    ("eye_open", 0.0, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("eye_open", 1.25, {"eyeWideLeft": 0.5, "eyeWideRight": 0.5}),
    ("gaze_x", 0.5, {"eyeLookOutLeft": 0.5, "eyeLookInRight": 0.5}),
    ("gaze_x", -0.5, {"eyeLookInLeft": 0.5, "eyeLookOutRight": 0.5}),
    ("gaze_y", 0.4, {"eyeLookDownLeft": 0.4, "eyeLookDownRight": 0.4}),
    ("gaze_y", -0.4, {"eyeLookUpLeft": 0.4, "eyeLookUpRight": 0.4}),
    ("head_yaw", 10.0, {"headYaw": np.radians(10.0)}),
    ("head_pitch", -5.0, {"headPitch": np.radians(-5.0)}),
    ("head_roll", 8.0, {"headRoll": np.radians(8.0)}),
])
def test_each_documented_key_drives_its_channels_only(key, value, channels):
    gt = frames(**{key: value})
    if key == "smile" and value > 0:   # the corpus renders a smiling eye narrower (see from_corpus)
        gt["eye_open"] = gt["eye_open"] * (1 - face_motion.LID_SQUINT_SHARE * face_motion.SMILE_SQUINT_SHARE * value)
    m = from_corpus(gt)[0]
    want = face_motion.vector(channels)
    np.testing.assert_allclose(m, want, atol=1e-5, err_msg=f"{key}={value}")


def test_mouth_width_becomes_stretch_without_the_smile_share():
    m = from_corpus(frames(mouth_width=1.1))[0]
    assert m[INDEX["mouthStretchLeft"]] == pytest.approx(0.1 / face_motion.WIDTH_STRETCH_SPAN, abs=1e-5)
    # a smile's own widening (x(1 + 0.16 smile)) is not a viseme stretch
    smiling = from_corpus(frames(mouth_width=1 + 0.16 * 0.8, smile=0.8))[0]
    assert smiling[INDEX["mouthStretchLeft"]] == pytest.approx(0.0, abs=1e-5)


def test_rounding_splits_into_funnel_when_open_and_pucker_when_closed():
    gt = frames(n=2)
    gt["mouth_open"] = np.array([0.6, 0.0], np.float32)
    m = from_corpus(gt, rounding=np.array([0.8, 0.8], np.float32))
    assert m[0, INDEX["mouthFunnel"]] == pytest.approx(0.8) and m[0, INDEX["mouthPucker"]] == pytest.approx(0.0)
    assert m[1, INDEX["mouthPucker"]] == pytest.approx(0.8) and m[1, INDEX["mouthFunnel"]] == pytest.approx(0.0)


def simulated_clip(seed=3, n=500):
    """Ground truth of the corpus' own behaviour model: states, visemes-like mouth, commands."""
    rng = np.random.default_rng(seed)
    state = np.repeat(rng.integers(0, 3, n // 50), 50)
    mouth = {"aperture": np.abs(np.sin(np.arange(n) / 3)), "width": 1 + 0.1 * np.cos(np.arange(n) / 4),
             "rounding": np.zeros(n)}
    expr = behaviour.expression_track(rng, n, 25)
    speech = rng.standard_normal(n * 640).astype(np.float32) * 0.1
    _, gt = behaviour.compose(rng, state, mouth, expr, speech, 25)
    return {k: np.asarray(v) for k, v in gt.items()}


def test_to_corpus_inverts_from_corpus_on_corpus_ground_truth():
    gt = simulated_clip()
    expr = gt["expression"]
    squint = expr[:, E["eye_squint"]]
    back = to_corpus(from_corpus(gt, squint=squint))
    for key in ("mouth_open", "smile", "gaze_x", "gaze_y", "head_yaw", "head_pitch", "head_roll"):
        np.testing.assert_allclose(back[key], gt[key], atol=2e-3, err_msg=key)
    # eye_open: to_corpus gives the lid, the corpus value times the squint/smile narrowing
    narrowing = 1 - face_motion.LID_SQUINT_SHARE * np.clip(
        squint + face_motion.SMILE_SQUINT_SHARE * np.clip(gt["smile"], 0, 1), 0, 1)
    np.testing.assert_allclose(back["eye_open"] * narrowing, gt["eye_open"], atol=2e-3)


def test_squint_and_smile_are_not_read_as_blinks():
    gt = simulated_clip(seed=5)
    squint = gt["expression"][:, E["eye_squint"]]
    m = from_corpus(gt, squint=squint)
    lid_cmd = 1 + np.where(gt["expression"][:, E["eye_open"]] > 0, 0.5, 1.0) * gt["expression"][:, E["eye_open"]]
    open_cmd = lid_cmd >= 1                          # no commanded closing: eyeBlink is blinks only
    blink = m[:, INDEX["eyeBlinkLeft"]]
    assert np.percentile(blink[open_cmd], 70) < 0.02
    np.testing.assert_allclose(m[:, INDEX["eyeSquintLeft"]], np.clip(squint, 0, 1), atol=1e-6)


def test_generated_part_of_corpus_motion_is_small_where_the_command_explains_it():
    """from_corpus(gt) - from_expression(command) leaves the state behaviour: head pitch differs
    from the command by nods/prosody/noise (a few degrees), not by the command's 15 deg scale."""
    gt = simulated_clip(seed=7)
    expr = gt["expression"]
    residual = from_corpus(gt, squint=expr[:, E["eye_squint"]]) - from_expression(expr, NOD_DEG, TILT_DEG)
    assert np.degrees(np.abs(residual[:, INDEX["headPitch"]])).max() < 12
    np.testing.assert_allclose(residual[:, INDEX["eyeSquintLeft"]], 0, atol=1e-6)


def test_from_expression_maps_each_control():
    e = np.zeros((1, expression.DIM), np.float32)
    e[0, E["smile"]], e[0, E["brow_raise"]], e[0, E["eye_open"]] = 0.6, 0.5, -0.4
    e[0, E["gaze_x"]], e[0, E["head_nod"]], e[0, E["head_tilt"]] = 0.3, 0.5, -1.0
    m = from_expression(e, NOD_DEG, TILT_DEG)[0]
    assert m[INDEX["mouthSmileRight"]] == pytest.approx(0.6)
    assert m[INDEX["browInnerUp"]] == pytest.approx(0.5) and m[INDEX["browOuterUpLeft"]] == pytest.approx(0.5)
    assert m[INDEX["eyeBlinkLeft"]] == pytest.approx(0.4) and m[INDEX["eyeWideLeft"]] == 0
    assert m[INDEX["eyeLookOutLeft"]] == pytest.approx(0.3) and m[INDEX["eyeLookInRight"]] == pytest.approx(0.3)
    assert m[INDEX["headPitch"]] == pytest.approx(np.radians(0.5 * NOD_DEG))
    assert m[INDEX["headRoll"]] == pytest.approx(np.radians(-TILT_DEG))
    assert from_expression(np.zeros((3, 5, expression.DIM)), NOD_DEG, TILT_DEG).shape == (3, 5, face_motion.DIM)
    np.testing.assert_array_equal(from_expression(np.zeros(expression.DIM), NOD_DEG, TILT_DEG), 0)


def test_commanded_lid_round_trips_through_the_corpus_scale():
    """eye_open control e renders a lid 1 + e (closing) or 1 + 0.5 e (widening); from_corpus of
    that lid gives the same eyeBlink/eyeWide as from_expression(e)."""
    for e_open in (-0.6, -0.2, 0.4, 0.9):
        lid = 1 + (0.5 if e_open > 0 else 1.0) * e_open
        e = np.zeros(expression.DIM, np.float32)
        e[E["eye_open"]] = e_open
        want = from_expression(e, NOD_DEG, TILT_DEG)
        got = from_corpus(frames(n=1, eye_open=lid))[0]
        for name in ("eyeBlinkLeft", "eyeWideLeft"):
            assert got[INDEX[name]] == pytest.approx(want[INDEX[name]], abs=1e-5), (e_open, name)

"""Unit tests of the weight-free metric functions on synthetic signals and frames."""
import cv2
import numpy as np
import pytest

from avatar.model_runtime.evaluation import metrics


def smooth_noise(n, seed=0, width=5):
    rng = np.random.default_rng(seed)
    k = np.hanning(width + 2)[1:-1]
    return np.convolve(rng.standard_normal(n + 40), k / k.sum(), mode="same")[20:20 + n]


def test_pearson_of_constant_is_zero():
    assert metrics.pearson(np.ones(50), np.arange(50)) == 0.0
    assert metrics.pearson(np.arange(50), 2 * np.arange(50) + 1) == pytest.approx(1.0)


@pytest.mark.parametrize("shift", [-4, -1, 0, 2, 5])
def test_lagged_correlation_recovers_shift(shift):
    ref = smooth_noise(300)
    video = np.roll(ref, shift)         # video[t + shift] == ref[t]: video late by `shift`
    res = metrics.lagged_correlation(video, ref, max_lag=5)
    assert res.lag == shift
    assert res.r > 0.98
    if shift != 0:
        assert res.r_lag0 < res.r


def test_lagged_correlation_of_unrelated_signals_is_low():
    res = metrics.lagged_correlation(smooth_noise(500, 1), smooth_noise(500, 2))
    assert res.r < 0.3


def test_audio_envelope_follows_loudness_and_pads():
    n = 50
    wave = np.zeros(40 * 640, np.float32)                 # shorter than 50 frames: zero padded
    t = np.arange(10 * 640) / 16000
    wave[10 * 640:20 * 640] = 0.5 * np.sin(2 * np.pi * 200 * t)
    env = metrics.audio_envelope(wave, n, power=1.0)
    assert env.shape == (n,)
    assert env[12:18].min() > 0.3 and env[:8].max() < 1e-6 and env[22:].max() < 1e-6
    assert abs(int(np.argmax(env > 0.2)) - 10) <= 1


def test_stillness_ratio_separates_still_and_moving_listening():
    states = np.array([2] * 100 + [1] * 100 + [0] * 100)
    speaking = np.abs(smooth_noise(100, 3))
    still = np.concatenate([speaking, np.zeros(200)])
    moving = np.concatenate([speaking, np.abs(smooth_noise(200, 4))])
    good, bad = metrics.stillness(still, states), metrics.stillness(moving, states)
    assert good["listening_ratio"] == 0.0 and good["idle_ratio"] == 0.0
    assert bad["listening_ratio"] > 0.5 and bad["idle_ratio"] > 0.5


def test_stillness_skips_transitions_and_missing_states():
    states = np.array([2] * 50 + [1] * 50)
    aperture = np.concatenate([np.abs(smooth_noise(50, 5)), np.zeros(50)])
    aperture[50] = 1.0                   # the mouth closing right at the state change
    res = metrics.stillness(aperture, states, margin=2)
    assert res["listening_ratio"] == 0.0
    assert res["idle_motion"] is None and res["idle_ratio"] is None


def holds(n, seed):
    """A commanded-control-like track: values held for 1-3 s."""
    rng = np.random.default_rng(seed)
    out, t = np.zeros(n), 0
    while t < n:
        hold = int(rng.integers(25, 75))
        out[t:t + hold] = rng.uniform(0, 1)
        t += hold
    return out


def test_efficacy_ignores_unexercised_and_untrusted_controls():
    cmd = {"smile": holds(300, 6), "gaze_x": np.zeros(300), "brow_raise": holds(300, 9)}
    meas = {"smile": cmd["smile"] + 0.01 * smooth_noise(300, 7), "gaze_x": smooth_noise(300, 8),
            "brow_raise": smooth_noise(300, 10)}
    res = metrics.efficacy(cmd, meas, trusted={"smile", "gaze_x"})
    assert res["per_control"]["gaze_x"] is None
    assert res["per_control"]["brow_raise"] < 0.5
    assert res["r_mean"] == pytest.approx(res["per_control"]["smile"]) and res["r_mean"] > 0.99


def test_efficacy_is_not_fooled_by_blinks():
    cmd = {"eye_open": holds(300, 11)}
    blinks = cmd["eye_open"].copy()
    blinks[::40] = -1.0                      # one-frame closures every 1.6 s
    assert metrics.efficacy(cmd, {"eye_open": blinks})["r_mean"] > 0.9
    assert metrics.efficacy(cmd, {"eye_open": blinks}, median_frames=1)["r_mean"] < 0.8


def moving_frames(n=40, size=64):
    """A bright disc drifting smoothly across a textured background."""
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), (5, 5), 2)
    frames = []
    for t in range(n):
        f = bg.copy()
        cv2.circle(f, (int(16 + t * 0.8), 32), 10, (220, 180, 150), -1, lineType=cv2.LINE_AA)
        frames.append(f)
    return np.stack(frames)


def test_flicker_low_for_smooth_motion_high_for_shuffle_zero_for_frozen():
    frames = moving_frames()
    smooth = metrics.flicker(frames)["temporal_hf"]
    shuffled = metrics.flicker(frames[np.random.default_rng(1).permutation(len(frames))])["temporal_hf"]
    frozen = metrics.flicker(np.repeat(frames[:1], 40, axis=0))
    assert frozen["temporal_hf"] == 0.0 and frozen["frame_diff"] == 0.0
    assert shuffled > 3 * smooth


def test_flicker_chunking_matches_single_pass():
    frames = moving_frames(n=23)
    frames[::3] = 255 - frames[::3]
    a, b = metrics.flicker(frames, chunk=5), metrics.flicker(frames, chunk=1000)
    assert a["temporal_hf"] == pytest.approx(b["temporal_hf"], rel=1e-6)
    assert a["frame_diff"] == pytest.approx(b["frame_diff"], rel=1e-6)


def test_colour_and_sharpness_detect_shift_and_blur():
    frames = moving_frames()
    hist = metrics.lab_histogram(frames)
    assert metrics.histogram_similarity(hist, hist) == pytest.approx(1.0)
    shifted = np.clip(frames.astype(int) + [40, -20, 0], 0, 255).astype(np.uint8)
    assert metrics.histogram_similarity(hist, metrics.lab_histogram(shifted)) < 0.8
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in frames])
    assert metrics.sharpness(blurred) < 0.5 * metrics.sharpness(frames)


def test_drift_window_is_a_minute_or_a_fifth():
    assert metrics.drift_window(15000) == 1500
    assert metrics.drift_window(200) == 40
    idx = metrics.spread(14000, 1000)
    assert len(idx) == 50 and idx[0] == 14000 and idx[-1] == 14999
    assert list(metrics.spread(5, 3)) == [5, 6, 7]


def test_cosine():
    assert metrics.cosine([1, 0], [0, 1]) == 0.0
    assert metrics.cosine([1, 2], [2, 4]) == pytest.approx(1.0)
    assert metrics.cosine([0, 0], [1, 1]) == 0.0

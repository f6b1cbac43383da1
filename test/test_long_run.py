"""Long-run stability measurement (`avatar bench --long-run`) on a tiny model: what it keeps and reports."""
import numpy as np

from avatar.model_runtime.engine.motion_source import ExplicitMotion
from avatar.model_runtime.renderers.diffusion import DiffusionRenderer
from engine_fixtures import portrait, tiny_model

from avatar.model_runtime.engine.long_run import LongRunConfig, long_run, speech_track


def test_long_run_keeps_two_windows_and_measures_memory_between_them():
    rng = np.random.default_rng(0)
    utterance = (0.2 * rng.standard_normal(16000)).astype(np.float32)
    track = speech_track(utterance, 9.0, gap_s=1.0)
    assert track.size == 9 * 16000 and np.abs(track[16000:32000]).max() == 0     # speech, then a gap
    cfg = LongRunConfig(seconds=24.0, window_s=4.0, steps=1, clip=4)
    out = long_run(DiffusionRenderer(tiny_model(64)), ExplicitMotion(), portrait(0, (64, 64, 3)), utterance, cfg,
                   framing="whole")
    assert out["n_frames"] == 600 and out["frames"].shape == (200, 64, 64, 3)     # 2 x 4 s kept
    assert out["kept_frames_mb"] == out["frames"].nbytes / 2 ** 20
    times = [t for t, _ in out["memory_trace"]]
    assert times == [0.0, 10.0, 20.0]
    assert np.isfinite(out["rss_slope_mb_per_min_middle"]) and out["fps"] > 0

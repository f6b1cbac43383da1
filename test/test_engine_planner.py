"""Clip planning and the audio timeline: pure logic, no model."""
import numpy as np
import pytest

from avatar.model_runtime.engine.planner import ClipPlanner, PlannerConfig
from avatar.model_runtime.engine.timeline import AudioTimeline, StepTrack


def test_short_first_clip_then_steady_and_cut_at_switch():
    p = ClipPlanner(PlannerConfig(first_clip=2, clip=8))
    a = p.plan(0, None)
    p.commit(a, None)
    b = p.plan(2, 13)
    p.commit(b, 13)
    c = p.plan(10, 13)
    p.commit(c, 13)
    d = p.plan(13, None)
    assert (a.start, a.n) == (0, 2)                 # a short first clip
    assert (b.start, b.n) == (2, 8)                 # then steady-state clips
    assert (c.n, d.n) == (3, 2)                     # cut at the switch, a short first clip after it


def test_lag_degrades_steps_then_skips():
    p = ClipPlanner(PlannerConfig(steps=2, min_steps=1, degrade_lag_ms=200, skip_lag_ms=600))
    assert p.plan(0, None, lag_ms=100).steps == 2
    assert p.plan(0, None, lag_ms=300).steps == 1
    late = p.plan(0, None, lag_ms=1000)
    assert late.skipped == 20 and late.start == 20 and late.degraded      # (1000-200) ms at 25 FPS


@pytest.mark.parametrize("bad", [dict(first_clip=0), dict(first_clip=9, clip=8), dict(min_steps=3, steps=2)])
def test_planner_config_is_validated(bad):
    with pytest.raises(ValueError):
        PlannerConfig(**bad)


def test_audio_timeline_gaps_read_as_silence_and_trim_keeps_memory_flat():
    tl = AudioTimeline()
    tl.write(np.ones(100, np.float32), 50)
    assert tl.written_until == 150
    out = tl.read(0, 200)
    assert out[:50].sum() == 0 and out[50:150].sum() == 100 and out[150:].sum() == 0
    for k in range(1000):                      # a long run: 1000 chunks, trimming as we go
        tl.write(np.full(320, 0.5, np.float32), 150 + 320 * k)
        tl.trim(150 + 320 * k - 16000)
    assert tl._buf.size <= 4 * 16000
    assert tl.read(150 + 320 * 999, 150 + 320 * 1000).min() == 0.5


def test_step_track_rewrites_the_future():
    t = StepTrack(0)
    t.set(10, 2)
    t.set(20, 1)
    assert t.span(8, 4) == [0, 0, 2, 2] and t.at(25) == 1
    t.set(15, 0)                                # a later change replaces what followed
    assert t.at(25) == 0 and t.next_change_after(12) == 15

"""State logic (core.state_machine, core.states) and `avatar states` on espeak dialogues."""
import argparse
import json

import numpy as np
import pytest

from avatar.cli import states as states_cli
from avatar.core.audio_io import save_wav
from avatar.core.errors import InputError
from avatar.core.state_machine import (ChannelTimeline, Segment, State, StateTracker, combine, confidence,
                                       state_segments)
from avatar.core.states import (frames_from_segments, frames_from_stamps, frames_from_track, live_track,
                                recording_states)
from avatar.core.vad import VadConfig, WindowDecision
from avatar.core.vad_eval import add_noise, build_dialogue, frame_truth, onset_latencies

CFG = VadConfig()


@pytest.fixture(scope="module")
def dialogue():
    return build_dialogue(seed=7, n_turns=8, barge_in_prob=0.3)


def test_combine_and_barge_in_rule():
    assert combine(False, False) == State.IDLE
    assert combine(True, False) == State.SPEAKING
    assert combine(False, True) == State.LISTENING
    assert combine(True, True, "speaking") == State.SPEAKING
    assert combine(True, True, "listening") == State.LISTENING
    with pytest.raises(InputError, match="barge_in"):
        combine(True, True, "shout")
    assert confidence(State.IDLE, 0.2, 0.1) == pytest.approx(0.8)
    assert confidence(State.LISTENING, 0.2, 0.9) == pytest.approx(0.9)


def _dec(end, speech, prob=None):
    return WindowDecision(end, prob if prob is not None else (0.9 if speech else 0.1), speech)


def test_timeline_applies_decisions_when_their_audio_is_due():
    tl = ChannelTimeline(CFG, stale_s=0.5)
    tl.add([_dec(10.0, False), _dec(10.5, True), _dec(11.0, True)])
    assert tl.at(9.9) is None                      # nothing heard yet
    assert not tl.at(10.2).speech                  # audio published ahead of time waits for its time
    assert tl.at(10.6).speech and tl.at(11.4).speech
    assert tl.at(11.6) is None                     # the channel went quiet: stale
    tl.add([_dec(10.7, False)])                    # a restarted stream replaces what it overlaps
    assert not tl.at(10.8).speech and tl.at(10.6).speech
    tl.prune(20.0)
    assert tl.at(20.0) is None


def test_tracker_causal_and_lagged():
    tr = StateTracker(CFG, stale_s=1.0)
    ends = np.arange(1, 60) * 0.032
    probs = np.where((ends > 0.5) & (ends < 1.0), 0.95, 0.02)
    from avatar.core.vad import Hysteresis
    h = Hysteresis(CFG)
    tr.speech.add([WindowDecision(e, p, h.update(p)) for e, p in zip(ends, probs)])
    causal = [tr.at(t).state for t in (0.45, 0.55, 1.2, 1.6)]
    assert causal == [State.IDLE, State.SPEAKING, State.SPEAKING, State.IDLE]   # hangover holds 1.2
    lagged = StateTracker(CFG, stale_s=1.0, lag_s=0.6)
    lagged.speech.add(tr.speech._items)
    sample = lagged.at(1.8)                        # describes audio time 1.2: already over
    assert sample.state == State.IDLE and sample.audio_time == pytest.approx(1.2)
    assert lagged.at(1.3).state == State.SPEAKING  # audio time 0.7
    with pytest.raises(InputError):
        StateTracker(CFG, barge_in="nobody")


def test_tracker_does_not_take_its_own_backlog_for_silence():
    tr = StateTracker(CFG, stale_s=0.5)
    for timeline in (tr.speech, tr.user):
        timeline.add([_dec(9.0 + 0.032 * k, timeline is tr.user) for k in range(32)])    # audio up to ~10.0
    tr.arrived(11.2)                                 # received late: the node is 1.2 s behind
    assert tr.evaluate(11.2).state == State.LISTENING
    assert tr.at(11.2).state == State.IDLE           # judged at the wall clock, both would look stale
    assert tr.evaluate(11.8).state == State.IDLE     # nothing arrived for 0.6 s: the channels stopped


def test_state_segments_cover_and_merge():
    segs = state_segments([(1.0, 2.0), (2.0, 3.0)], [(2.5, 4.0)], 5.0)
    assert [s.to_json()["state"] for s in segs] == ["idle", "speaking", "listening", "idle"]
    assert segs[0].start == 0.0 and segs[-1].end == 5.0
    assert all(a.end == b.start for a, b in zip(segs, segs[1:]))
    segs = state_segments([(1.0, 3.0)], [(2.0, 4.0)], 4.0, barge_in="listening")
    assert [(s.start, s.end, s.state) for s in segs] == [(0.0, 1.0, State.IDLE), (1.0, 2.0, State.SPEAKING),
                                                         (2.0, 4.0, State.LISTENING)]
    assert frames_from_segments([Segment(0.0, 0.1, State.IDLE), Segment(0.1, 1.0, State.SPEAKING)], 3).tolist() \
        == [0, 0, 2]


def _truth_at(d):
    return lambda t: combine(any(a <= t < b for a, b in d.speech_turns), any(a <= t < b for a, b in d.user_turns))


def test_offline_states_match_the_dialogue(dialogue):
    gt = frame_truth(dialogue)
    segs = recording_states(dialogue.speech, dialogue.user, CFG)
    acc = np.mean(frames_from_segments(segs, len(gt)) == gt)
    assert acc >= 0.95, acc


def _channel(tracker_channel, start, stop, ends):
    from avatar.core.vad import Hysteresis
    h = Hysteresis(CFG)
    probs = np.where((ends > start) & (ends < stop), 0.95, 0.02)
    tracker_channel.add([WindowDecision(e, p, h.update(p)) for e, p in zip(ends, probs)])


def test_live_changes_are_stamped_where_they_happened():
    """The avatar stops at 1.0 s and the user starts at 1.2 s, inside the speech hangover:
    the causal state jumps SPEAKING -> LISTENING late, and the published stamps put an
    IDLE at the real end of speech and LISTENING at the user's onset."""
    tr = StateTracker(CFG, stale_s=1.0)
    ends = np.arange(1, 80) * 0.032
    _channel(tr.speech, 0.5, 1.0, ends)
    _channel(tr.user, 1.2, 2.0, ends)
    published, last = [], None
    for now in np.arange(0.02, 2.5, 0.02):
        sample = tr.evaluate(now)
        tr.arrived(now)
        published += [(now, *p) for p in tr.stamped(sample, sample.state != last, now)]
        last = sample.state
    changes = [(round(w, 2), round(t, 2), s) for w, t, s in published if abs(w - t) > 1e-6]
    states = [s for _, _, s in changes]
    assert states[:3] == [State.SPEAKING, State.IDLE, State.LISTENING], changes
    (w_on, t_on, _), (w_off, t_off, _), (w_user, t_user, _) = changes[:3]
    assert 0.45 <= t_on <= 0.52 and w_on > t_on                   # back-dated onset
    assert 0.95 <= t_off <= 1.05 and w_off >= 1.0 + CFG.hangover_s - 0.1
    assert 1.15 <= t_user <= 1.22 and w_user == w_off              # both sent when the hangover ended
    stamps = [t for _, t, _ in published]
    assert sorted(t for _, t, _ in changes) == [t for _, t, _ in changes]
    assert max(stamps) <= 2.5


def test_offline_states_at_10db_white_noise(dialogue):
    rng = np.random.default_rng(3)
    speech = add_noise(dialogue.speech, dialogue.speech_turns, 10.0, "white", rng)
    user = add_noise(dialogue.user, dialogue.user_turns, 10.0, "white", rng)
    gt = frame_truth(dialogue)
    acc = np.mean(frames_from_segments(recording_states(speech, user, CFG), len(gt)) == gt)
    assert acc >= 0.90, acc


def test_live_run_onset_latency_and_lagged_accuracy(dialogue):
    times, _, states = live_track(dialogue.speech, dialogue.user, CFG)
    lat = onset_latencies(dialogue.speech_turns, times, states, State.SPEAKING, _truth_at(dialogue))
    assert len(lat) >= 3 and max(lat) <= 0.15, lat
    gt = frame_truth(dialogue)
    _, described, states_lag = live_track(dialogue.speech, dialogue.user, CFG, lag_s=0.5)
    acc = np.mean(frames_from_track(described, states_lag, len(gt)) == gt)
    assert acc >= 0.95, acc
    # Live (no lag): the stamped timeline a stamp-keyed consumer settles on.
    times, stamps, states = live_track(dialogue.speech, dialogue.user, CFG)
    settled = np.mean(frames_from_stamps(times, stamps, states, len(gt)) == gt)
    on_arrival = np.mean(frames_from_track(times, states, len(gt)) == gt)
    assert settled >= 0.95 and settled > on_arrival + 0.05, (settled, on_arrival)


def _states(argv: list[str]) -> int:
    # Through the subcommand's own parser: the full `avatar` parser imports every other subcommand.
    parser = argparse.ArgumentParser()
    states_cli.add_arguments(parser)
    return states_cli.run(parser.parse_args(argv))


def test_states_cli_json_and_table(tmp_path, dialogue, capsys):
    save_wav(tmp_path / "speech.wav", dialogue.speech)
    save_wav(tmp_path / "user.wav", dialogue.user)
    assert _states(["--speech", str(tmp_path / "speech.wav"), "--user", str(tmp_path / "user.wav"), "--json"]) == 0
    segs = json.loads(capsys.readouterr().out)
    assert {s["state"] for s in segs} == {"idle", "speaking", "listening"}
    assert segs[0]["start"] == 0.0 and abs(segs[-1]["end"] - dialogue.duration) < 0.01
    first_speaking = next(s for s in segs if s["state"] == "speaking")
    assert abs(first_speaking["start"] - dialogue.speech_turns[0][0]) < 0.1
    assert _states(["--speech", str(tmp_path / "speech.wav"), "--causal"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["start", "end", "length", "state"] and "listening" not in table


@pytest.mark.parametrize("argv,expected", [
    (["--speech", "{tmp}/bad.wav"], "cannot decode"),
    (["--speech", "{tmp}/missing.wav"], "not found"),
    (["--speech", "{tmp}/good.wav", "--onset", "2"], "thresholds"),
    (["--speech", "{tmp}/good.wav", "--user", "{tmp}"], "directory"),
])
def test_states_cli_bad_input_is_one_line_input_error(tmp_path, argv, expected):
    (tmp_path / "bad.wav").write_text("nope")
    save_wav(tmp_path / "good.wav", np.zeros(16000, np.float32))
    with pytest.raises(InputError) as info:
        _states([a.format(tmp=tmp_path) for a in argv])
    assert expected in str(info.value) and "\n" not in str(info.value)

"""The vad_state logic: its live decision (``LiveStates``, which the node runs) and the same
logic over whole recordings: offline segments and a simulated live run (``live_track``).

Both feed the audio through ``ChannelVad`` in 20 ms chunks, exactly as the node
receives it from the audio topics, so offline results and live behaviour come
from the same code.
"""
from bisect import bisect_left, bisect_right

import numpy as np

from avatar.core.audio_io import CHUNK_SAMPLES, SAMPLE_RATE, iter_chunks
from avatar.core.state_machine import Segment, State, StateSample, StateTracker, state_segments
from avatar.core.timebase import FRAME_S
from avatar.core.vad import ChannelVad, SileroModel, VadConfig, WindowDecision, speech_intervals


def channel_decisions(wave: np.ndarray, cfg: VadConfig, chunk: int = CHUNK_SAMPLES,
                      model: SileroModel | None = None) -> list[WindowDecision]:
    """All window decisions of one 16 kHz mono channel (S,), streamed in ``chunk``-sample pieces."""
    vad = ChannelVad(cfg, model)
    out: list[WindowDecision] = []
    for k, piece in enumerate(iter_chunks(wave, chunk)):
        out += vad.push(piece, SAMPLE_RATE, k * chunk / SAMPLE_RATE)
    return out


def recording_states(speech: np.ndarray, user: np.ndarray | None, cfg: VadConfig,
                     barge_in: str = "speaking", aligned: bool = True) -> list[Segment]:
    """State segments covering the longer of the two recordings (16 kHz mono float32).

    ``aligned`` places boundaries where speech really starts and ends (offline
    knowledge); ``aligned=False`` gives the boundaries a live vad_state would
    publish, i.e. after its detection and hangover delays.
    """
    user = np.zeros(0, np.float32) if user is None else user
    duration = max(len(speech), len(user)) / SAMPLE_RATE
    intervals = []
    for wave in (speech, user):
        decisions = channel_decisions(wave, cfg) if len(wave) else []
        intervals.append(speech_intervals(decisions, cfg, aligned=aligned))
    return state_segments(intervals[0], intervals[1], duration, barge_in)


class LiveStates:
    """The live state decision, written once for vad_state and ``live_track``.

    Chunks of the two channels (0: the avatar's speech, 1: the user) go through their own
    ``ChannelVad`` into one ``StateTracker``; ``decide`` gives the state at a wall time and
    the (stamp, state) messages to publish for it.
    """

    def __init__(self, cfg: VadConfig, stale_s: float = 0.5, barge_in: str = "speaking", lag_s: float = 0.0,
                 models: tuple[SileroModel | None, SileroModel | None] = (None, None)):
        self.vads = tuple(ChannelVad(cfg, m) for m in models)
        self.tracker = StateTracker(cfg, stale_s=stale_s, barge_in=barge_in, lag_s=lag_s)
        self.last: State | None = None

    def push(self, channel: int, mono: np.ndarray, rate: int, stamp: float, now: float) -> None:
        """One chunk (S,) float32 of ``channel`` from audio time ``stamp``, received at wall time ``now``."""
        timeline = self.tracker.speech if channel == 0 else self.tracker.user
        timeline.add(self.vads[channel].push(mono, rate, stamp))
        self.tracker.arrived(now)

    def decide(self, now: float, always: bool = False) -> tuple[StateSample, bool, list[tuple[float, State]]]:
        """(the state at wall time ``now``, whether it changed, the (stamp, state) messages to
        publish: on a change, or every time with ``always``)."""
        sample = self.tracker.evaluate(now)
        changed = sample.state != self.last
        messages = self.tracker.stamped(sample, changed, now) if changed or always else []
        self.last = sample.state
        self.tracker.prune(now - self.tracker.lag_s)
        return sample, changed, messages


def live_track(speech: np.ndarray, user: np.ndarray, cfg: VadConfig, barge_in: str = "speaking",
               stale_s: float = 0.5, lag_s: float = 0.0,
               chunk: int = CHUNK_SAMPLES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate vad_state on two real-time streams, one evaluation per chunk.

    Returns the messages the node publishes, as (wall times (K,), stamps (K,),
    states (K,)): at wall time (k+1)*chunk/16k chunk k of both channels has
    arrived, and the state is published with ``StateTracker.stamped``'s stamps
    (about the wall time minus ``lag_s``; at a live change, where it really began).
    """
    live = LiveStates(cfg, stale_s, barge_in, lag_s)
    n = max(len(speech), len(user))
    pieces = [iter_chunks(np.pad(w, (0, n - len(w))), chunk) for w in (speech, user)]
    times, stamps, states = [], [], []
    for k, (s, u) in enumerate(zip(*pieces)):
        start = k * chunk / SAMPLE_RATE
        t = start + chunk / SAMPLE_RATE
        live.push(0, s, SAMPLE_RATE, start, t)
        live.push(1, u, SAMPLE_RATE, start, t)
        for stamp, state in live.decide(t, always=True)[2]:
            times.append(t)
            stamps.append(stamp)
            states.append(int(state))
    return np.array(times), np.array(stamps), np.array(states, np.int64)


def frames_from_track(times: np.ndarray, states: np.ndarray, n_frames: int,
                      frame_s: float = FRAME_S) -> np.ndarray:
    """The state a live system shows on each frame: the newest state known at the frame's end."""
    ends = (np.arange(n_frames) + 1) * frame_s
    idx = np.searchsorted(times, ends + 1e-9, side="right") - 1
    return np.where(idx >= 0, states[np.clip(idx, 0, None)], int(State.IDLE))


def frames_from_stamps(arrivals: np.ndarray, stamps: np.ndarray, states: np.ndarray, n_frames: int,
                       render_lag_s: float = float("inf"), frame_s: float = FRAME_S) -> np.ndarray:
    """The state a stamp-keyed consumer shows on each frame.

    Messages are applied in arrival order, each setting the state from its stamp on
    and overriding anything set for later times (``StepTrack.set``, as the engine
    does). Frame f is decided with the messages that arrived by its end plus
    ``render_lag_s`` (the engine renders that far behind the audio clock); with the
    default infinity it is the timeline the node settles on.
    """
    order = np.argsort(arrivals, kind="stable")
    track_t, track_v = [-np.inf], [int(State.IDLE)]    # the consumer's StepTrack
    out = np.empty(n_frames, np.int64)
    m = 0
    for f in range(n_frames):
        deadline = (f + 1) * frame_s + render_lag_s
        while m < len(order) and arrivals[order[m]] <= deadline:
            i = order[m]
            cut = bisect_left(track_t, stamps[i])
            del track_t[cut:], track_v[cut:]
            if track_v[-1] != states[i]:
                track_t.append(stamps[i])
                track_v.append(int(states[i]))
            m += 1
        centre = (f + 0.5) * frame_s
        out[f] = track_v[bisect_right(track_t, centre) - 1]
    return out


def frames_from_segments(segments: list[Segment], n_frames: int, frame_s: float = FRAME_S) -> np.ndarray:
    """The state at each frame's centre."""
    centres = (np.arange(n_frames) + 0.5) * frame_s
    starts = np.array([s.start for s in segments])
    idx = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(segments) - 1)
    return np.array([int(segments[i].state) for i in idx], np.int64)

"""Conversational state from the two voice-activity channels.

SPEAKING while the avatar's own voice has speech, LISTENING while the user's
has, IDLE otherwise. When both have speech at once (barge-in), ``barge_in``
decides: "speaking" (default) keeps the mouth moving with the voice that is
still being played; "listening" lets the user's voice win.

``StateTracker`` is the live form: decisions carry audio times, and the state
at wall time ``t`` uses only decisions whose window ended by ``t``. Audio
published ahead of real time therefore changes the state when it is played,
not when it arrives, and a channel that stops sending counts as silent after
``stale_s``. ``state_segments`` is the offline form over whole recordings.
"""
from bisect import bisect_right
from dataclasses import dataclass
from enum import IntEnum

from avatar.core.errors import InputError
from avatar.core.vad import VadConfig, WindowDecision, speech_intervals

BARGE_IN_RULES = ("speaking", "listening")


class State(IntEnum):
    """Same values as avatar.msg.AvatarState and the corpus' gt.json."""
    IDLE = 0
    LISTENING = 1
    SPEAKING = 2

    @property
    def label(self) -> str:
        return self.name.lower()


def combine(speech: bool, user: bool, barge_in: str = "speaking") -> State:
    if barge_in not in BARGE_IN_RULES:
        raise InputError(f"barge_in must be one of {BARGE_IN_RULES}, not {barge_in!r}")
    if speech and user:
        return State.SPEAKING if barge_in == "speaking" else State.LISTENING
    if speech:
        return State.SPEAKING
    return State.LISTENING if user else State.IDLE


def confidence(state: State, speech_prob: float, user_prob: float) -> float:
    """How strongly the current probabilities support ``state`` (0..1)."""
    if state == State.SPEAKING:
        return speech_prob
    if state == State.LISTENING:
        return user_prob
    return 1.0 - max(speech_prob, user_prob)


@dataclass(frozen=True)
class StateSample:
    state: State
    confidence: float
    speech_prob: float
    user_prob: float
    audio_time: float | None    # the audio time described; None if both channels are stale


class ChannelTimeline:
    """Window decisions of one channel, queried by time."""

    def __init__(self, cfg: VadConfig, stale_s: float, keep_s: float = 3.0):
        self.cfg = cfg
        self.stale_s = stale_s
        self._keep_s = keep_s
        self._ends: list[float] = []
        self._items: list[WindowDecision] = []

    def add(self, decisions: list[WindowDecision]) -> None:
        for d in decisions:
            # A stream that restarts earlier in time replaces what it overlaps.
            while self._ends and self._ends[-1] >= d.end:
                self._ends.pop()
                self._items.pop()
            self._ends.append(d.end)
            self._items.append(d)

    @property
    def newest_end(self) -> float | None:
        return self._ends[-1] if self._ends else None

    def at(self, t: float) -> WindowDecision | None:
        """The causal decision in force at ``t``; None if none has ended yet or it is stale."""
        i = bisect_right(self._ends, t) - 1
        if i < 0 or t - self._ends[i] > self.stale_s:
            return None
        return self._items[i]

    def aligned_at(self, tau: float, now: float) -> tuple[bool, float] | None:
        """(speech, prob) at audio time ``tau``, judged with all decisions ended by ``now``.

        Speech boundaries are moved to where the evidence began and ended
        (``speech_intervals(aligned=True)``), as far as ``now - tau`` lets us see.
        """
        d = self.at(tau)
        if d is None:
            return None
        hi = bisect_right(self._ends, now)
        lo = bisect_right(self._ends, tau - self._keep_s)
        intervals = speech_intervals(self._items[lo:hi], self.cfg, aligned=True, final=False)
        return any(a <= tau < b for a, b in intervals), d.prob

    def aligned_intervals(self, now: float) -> list[tuple[float, float]]:
        """Aligned speech intervals of the kept decisions that ended by ``now``."""
        items = self._items[:bisect_right(self._ends, now)]
        # A channel that went stale has stopped: its open interval ends with its last window.
        final = bool(items) and now - items[-1].end > self.stale_s
        intervals = speech_intervals(items, self.cfg, aligned=True, final=final)
        if intervals and not final and items[-1].speech:
            intervals[-1] = (intervals[-1][0], now)      # still open: it lasts until now
        return intervals

    def prune(self, t: float) -> None:
        """Forget decisions older than ``keep_s`` before ``t`` (always keeping the newest)."""
        i = min(bisect_right(self._ends, t - self._keep_s), len(self._ends) - 1)
        if i > 0:
            del self._ends[:i], self._items[:i]


class StateTracker:
    """Both channels' timelines and the barge-in rule: the state at any time.

    ``lag_s`` = 0 is the causal live state. With ``lag_s`` > 0 the state
    describes audio time ``t - lag_s`` and its boundaries are placed where
    speech really began and ended, as far as the extra ``lag_s`` of audio shows
    (with ``lag_s`` >= hangover + ~0.1 s it equals the offline analysis).
    """

    def __init__(self, cfg: VadConfig, stale_s: float = 0.5, barge_in: str = "speaking",
                 lag_s: float = 0.0):
        combine(False, False, barge_in)  # validates the rule
        self.barge_in = barge_in
        self.lag_s = lag_s
        keep_s = max(3.0, 2 * lag_s + cfg.hangover_s + cfg.min_speech_s + 1.0)
        self.speech = ChannelTimeline(cfg, stale_s, keep_s)
        self.user = ChannelTimeline(cfg, stale_s, keep_s)
        self.stale_s = stale_s
        self._last_arrival = -float("inf")
        self._last_change = -float("inf")

    def arrived(self, now: float) -> None:
        """Note that audio (of either channel) was received at wall time ``now``."""
        self._last_arrival = now

    def evaluate(self, now: float) -> StateSample:
        """The state to publish at wall time ``now``.

        While audio keeps arriving it is judged at the newest audio received (if
        that is not in the future): a node that fell behind on its input must not
        take its own backlog for silent channels. Once nothing has arrived for
        ``stale_s``, it is judged at ``now``, so channels that stopped go quiet.
        """
        newest = [e for e in (self.speech.newest_end, self.user.newest_end) if e is not None]
        if newest and now - self._last_arrival <= self.stale_s:
            return self.at(min(now, max(newest)))
        return self.at(now)

    def at(self, t: float) -> StateSample:
        tau = t - self.lag_s
        if self.lag_s > 0:
            s, u = self.speech.aligned_at(tau, t), self.user.aligned_at(tau, t)
        else:
            s, u = [(d.speech, d.prob) if d else None for d in (self.speech.at(t), self.user.at(t))]
        sp = s[1] if s else 0.0
        up = u[1] if u else 0.0
        state = combine(bool(s and s[0]), bool(u and u[0]), self.barge_in)
        return StateSample(state, confidence(state, sp, up), sp, up, tau if (s or u) else None)

    def stamped(self, sample: StateSample, changed: bool, now: float) -> list[tuple[float, State]]:
        """What to publish for ``sample``, evaluated at wall time ``now``: (stamp, state) pairs.

        Normally one pair stamped with the audio time it describes. A live change is
        decided causally (an onset ~0.1 s after it, an end of speech only after the
        hangover), but stamped where the aligned analysis of the same decisions puts it,
        together with any short state it skipped (speech that ended just before the
        user began: SPEAKING -> IDLE -> LISTENING). A consumer that keys states by
        stamp, as the engine does, then places every boundary where it really was.
        """
        t = now - self.lag_s if sample.audio_time is None else sample.audio_time
        if not changed:
            return [(t, sample.state)]
        runs = self._runs_since(self._last_change, t) if self.lag_s == 0 else []
        if not runs or runs[-1][1] != sample.state:
            # The analysis disagrees: nothing better is known than the time described.
            runs = [(max(t, self._last_change), sample.state)]
        self._last_change = runs[-1][0]
        return runs

    def _runs_since(self, start: float, now: float) -> list[tuple[float, State]]:
        """Aligned (start time, state) runs in (``start``, ``now``], the first one dropped:
        it continues the state already published."""
        speech, user = self.speech.aligned_intervals(now), self.user.aligned_intervals(now)
        cuts = sorted({start, now, *[x for iv in speech + user for x in iv if start < x < now]})
        runs: list[tuple[float, State]] = []
        for a, b in zip(cuts, cuts[1:]):
            state = combine(_inside(speech, 0.5 * (a + b)), _inside(user, 0.5 * (a + b)), self.barge_in)
            if not runs or runs[-1][1] != state:
                runs.append((a, state))
        return runs[1:]

    def prune(self, t: float) -> None:
        self.speech.prune(t)
        self.user.prune(t)


class StampAligner:
    """Maps a channel's chunk stamps onto the local clock when they are far off.

    Stamps should already be local time (same machine, or synced clocks). A new
    stream whose first chunk neither overlaps the last ``max_skew_s`` nor starts
    within ``max_skew_s`` ahead (an unsynced sender, a replayed bag, a zero
    stamp) is shifted to start now; chunks that continue it keep that shift, so
    audio sent ahead of time stays ahead.
    """

    def __init__(self, max_skew_s: float = 2.0, max_gap_s: float = 0.25):
        self.max_skew_s, self.max_gap_s = max_skew_s, max_gap_s
        self.offset = 0.0
        self._expected: float | None = None

    def align(self, stamp: float, duration: float, now: float) -> tuple[float, bool]:
        """(local stamp, whether the offset changed) for a chunk of ``duration`` s."""
        continues = self._expected is not None and abs(stamp - self._expected) <= self.max_gap_s
        changed = False
        if not continues:
            plausible = now - self.max_skew_s - duration <= stamp <= now + self.max_skew_s
            offset = 0.0 if plausible else now - stamp
            changed = abs(offset - self.offset) > 1e-3
            self.offset = offset
        self._expected = stamp + duration
        return stamp + self.offset, changed


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    state: State

    def to_json(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "state": self.state.label}


def state_segments(speech: list[tuple[float, float]], user: list[tuple[float, float]],
                   duration: float, barge_in: str = "speaking") -> list[Segment]:
    """Covering, gap-free state segments over [0, duration] from two channels' speech intervals."""
    cuts = sorted({0.0, duration, *[min(max(t, 0.0), duration) for iv in speech + user for t in iv]})
    segments: list[Segment] = []
    for a, b in zip(cuts, cuts[1:]):
        if b <= a:
            continue
        mid = 0.5 * (a + b)
        state = combine(_inside(speech, mid), _inside(user, mid), barge_in)
        if segments and segments[-1].state == state:
            segments[-1] = Segment(segments[-1].start, b, state)
        else:
            segments.append(Segment(a, b, state))
    return segments


def _inside(intervals: list[tuple[float, float]], t: float) -> bool:
    return any(a <= t < b for a, b in intervals)

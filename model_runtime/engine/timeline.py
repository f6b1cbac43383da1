"""Audio is the master clock: everything is indexed by audio sample / video frame.

Frame ``n`` shows audio samples ``[n*640, (n+1)*640)`` of the stream (16 kHz,
25 FPS). State and expression changes are stamped in the same time base, so a
frame's conditioning is whatever was in force at its audio time.

The engine cuts each clip's inputs from one of two sources with the same methods
(``read``, ``state_at``, ``next_switch``, ``conditioning``, ``drawn_motion``):
``LiveInputs`` (tracks written while the stream runs) or ``FrameInputs`` (offline:
per-frame arrays known up front, read directly).
"""
import bisect
import threading
from dataclasses import dataclass, field

import numpy as np

from avatar.core.expression import DIM, neutral_vector
from avatar.core.state_machine import State
from avatar.core.timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME  # noqa: F401  (the engine imports them from here)


class AudioTimeline:
    """Growable mono float32 buffer addressed by absolute sample index; gaps read as silence.

    Old audio is released with ``trim`` so that a long run keeps flat memory.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._buf = np.zeros(0, np.float32)
        self._offset = 0          # absolute index of _buf[0]
        self._written_until = 0   # one past the last absolute sample written
        self.closed = False       # offline: no more audio will come

    def write(self, samples: np.ndarray, start: int) -> None:
        samples = np.asarray(samples, np.float32).reshape(-1)
        with self._lock:
            lo = max(start, self._offset)
            hi = start + samples.size
            if hi <= lo:
                return                                   # entirely before what we still keep
            need = hi - self._offset
            if need > self._buf.size:
                grown = np.zeros(max(need, 2 * self._buf.size), np.float32)
                grown[:self._buf.size] = self._buf
                self._buf = grown
            self._buf[lo - self._offset:hi - self._offset] = samples[lo - start:]
            self._written_until = max(self._written_until, hi)

    @property
    def written_until(self) -> int:
        with self._lock:
            return self._written_until

    def read(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) as float32; anything not written (or trimmed) is zero."""
        out = np.zeros(max(0, end - start), np.float32)
        with self._lock:
            lo, hi = max(start, self._offset), min(end, self._offset + self._buf.size)
            if hi > lo:
                out[lo - start:hi - start] = self._buf[lo - self._offset:hi - self._offset]
        return out

    def trim(self, before: int) -> None:
        """Forget samples before absolute index ``before``."""
        with self._lock:
            cut = min(max(0, before - self._offset), self._buf.size)
            if cut:
                self._buf = self._buf[cut:].copy()
                self._offset += cut


class StepTrack:
    """A piecewise-constant value over frame indices (the state label, an expression target)."""

    def __init__(self, initial):
        self._lock = threading.Lock()
        self._frames = [0]
        self._values = [initial]

    def set(self, frame: int, value) -> None:
        """From ``frame`` on, the value is ``value`` (later calls may rewrite the future)."""
        with self._lock:
            i = bisect.bisect_left(self._frames, frame)
            del self._frames[i:], self._values[i:]
            if self._values and np.array_equal(self._values[-1], value):
                return
            self._frames.append(frame)
            self._values.append(value)

    def at(self, frame: int):
        with self._lock:
            return self._values[bisect.bisect_right(self._frames, frame) - 1]

    def span(self, start: int, n: int) -> list:
        return [self.at(f) for f in range(start, start + n)]

    def next_change_after(self, frame: int) -> int | None:
        """First frame > ``frame`` where the value changes, if any is known."""
        with self._lock:
            i = bisect.bisect_right(self._frames, frame)
            return self._frames[i] if i < len(self._frames) else None

    def forget_before(self, frame: int) -> None:
        with self._lock:
            i = bisect.bisect_right(self._frames, frame) - 1
            if i > 0:
                del self._frames[:i], self._values[:i]


def neutral_expression() -> np.ndarray:
    return np.asarray(neutral_vector(), np.float32).reshape(DIM)


def _window(audio: np.ndarray, start: int, end: int) -> np.ndarray:
    """Samples [start, end) of ``audio`` (S,) as a new float32 array; outside it, zeros."""
    out = np.zeros(max(0, end - start), np.float32)
    lo, hi = max(start, 0), min(end, audio.size)
    if hi > lo:
        out[lo - start:hi - start] = audio[lo:hi]
    return out


class LiveInputs:
    """Live: audio, state and expression tracks written from any thread while the stream runs."""

    def __init__(self):
        self.audio = AudioTimeline()
        self.states = StepTrack(State.IDLE)
        self.expressions = StepTrack(neutral_expression())

    def read(self, start: int, end: int) -> np.ndarray:
        return self.audio.read(start, end)

    def state_at(self, frame: int) -> int:
        return self.states.at(frame)

    def next_switch(self, frame: int) -> int | None:
        return self.states.next_change_after(frame)

    def conditioning(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """States (n,) int64 and expressions (n, DIM) float32 of frames [start, start + n)."""
        return (np.array(self.states.span(start, n), np.int64),
                np.stack(self.expressions.span(start, n)).astype(np.float32))

    def drawn_motion(self, start: int, n: int) -> None:
        """Live motion is always generated."""
        return None

    def forget_before(self, frame: int, sample: int) -> None:
        self.audio.trim(sample)
        self.states.forget_before(frame)
        self.expressions.forget_before(frame)


@dataclass(frozen=True)
class FrameInputs:
    """Offline: everything known up front, one entry per frame (T frames)."""
    audio: np.ndarray                   # (T * SAMPLES_PER_FRAME,) float32: what the engine hears and the MP4 carries
    states: np.ndarray                  # (T,) int64 state labels
    expressions: np.ndarray             # (T, DIM) float32 expression vectors
    motion: np.ndarray | None = None    # (M, face_motion.DIM) float32 to draw instead of generating; past M the
                                        # last row holds
    switches: np.ndarray = field(init=False, repr=False)   # (K,) frames whose state differs from the one before

    def __post_init__(self):
        object.__setattr__(self, "switches", np.flatnonzero(np.diff(self.states)) + 1)

    @classmethod
    def of(cls, speech: np.ndarray, n_frames: int, states: np.ndarray, expressions: np.ndarray | None = None,
           motion: np.ndarray | None = None) -> "FrameInputs":
        """``speech`` (S,) cut or padded with silence to ``n_frames``; no expressions: neutral throughout."""
        audio = _window(np.asarray(speech, np.float32).reshape(-1), 0, n_frames * SAMPLES_PER_FRAME)
        states = np.asarray(states, np.int64).reshape(-1)
        if expressions is None:
            expressions = np.tile(neutral_expression(), (n_frames, 1))
        expressions = np.asarray(expressions, np.float32)
        if states.shape != (n_frames,) or expressions.shape != (n_frames, DIM):
            raise ValueError(f"need states ({n_frames},) and expressions ({n_frames}, {DIM}), "
                             f"not {states.shape} and {expressions.shape}")
        return cls(audio, states, expressions, None if motion is None else np.asarray(motion, np.float32))

    @property
    def n_frames(self) -> int:
        return len(self.states)

    def read(self, start: int, end: int) -> np.ndarray:
        return _window(self.audio, start, end)

    def state_at(self, frame: int) -> int:
        return int(self.states[frame])

    def next_switch(self, frame: int) -> int | None:
        """First frame > ``frame`` whose state differs from the frame before it."""
        i = int(np.searchsorted(self.switches, frame, side="right"))
        return int(self.switches[i]) if i < len(self.switches) else None

    def conditioning(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.states[start:start + n].copy(), self.expressions[start:start + n].copy()

    def drawn_motion(self, start: int, n: int) -> np.ndarray | None:
        """(n, DIM) rows of the motion track, or None (generate)."""
        if self.motion is None:
            return None
        return self.motion[np.minimum(np.arange(start, start + n), len(self.motion) - 1)]

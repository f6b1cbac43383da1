"""Audio is the master clock: everything is indexed by audio sample / video frame.

Frame ``n`` shows audio samples ``[n*640, (n+1)*640)`` of the stream (16 kHz,
25 FPS). State and expression changes are stamped in the same time base, so a
frame's conditioning is whatever was in force at its audio time.
"""
import bisect
import threading

import numpy as np

from avatar.core.expression import DIM, neutral_vector
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

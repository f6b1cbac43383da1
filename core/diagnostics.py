"""ROS-free bookkeeping behind /diagnostics: event rates, latency percentiles, counters.

Nodes feed it from their callbacks; the toolkit turns ``snapshot()`` into a
diagnostic_msgs/DiagnosticStatus about once a second.
"""
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2


@dataclass
class _Window:
    stamps: deque = field(default_factory=lambda: deque(maxlen=2048))
    values: deque = field(default_factory=lambda: deque(maxlen=2048))


class DiagnosticsWindow:
    """Thread-safe collector. Rates and percentiles cover the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 5.0, clock=time.monotonic):
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[str, _Window] = {}
        self._samples: dict[str, _Window] = {}
        self._counters: dict[str, int] = {}
        self._values: dict[str, str] = {}
        self._level = OK
        self._message = "ok"

    def tick(self, key: str, n: int = 1) -> None:
        """Count an event (a frame, a chunk); reported as ``<key>_hz`` and a total."""
        now = self._clock()
        with self._lock:
            w = self._events.setdefault(key, _Window())
            for _ in range(n):
                w.stamps.append(now)
            self._counters[key] = self._counters.get(key, 0) + n

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + n

    def sample(self, key: str, value: float) -> None:
        """Record a measurement (e.g. a latency in ms); reported as p50/p95."""
        now = self._clock()
        with self._lock:
            w = self._samples.setdefault(key, _Window())
            w.stamps.append(now)
            w.values.append(float(value))

    def set(self, key: str, value) -> None:
        with self._lock:
            self._values[key] = str(value)

    def status(self, level: int, message: str) -> None:
        with self._lock:
            self._level, self._message = level, message

    def snapshot(self) -> tuple[int, str, dict[str, str]]:
        now = self._clock()
        lo = now - self._window_s
        with self._lock:
            out = dict(self._values)
            for key, w in self._events.items():
                recent = [t for t in w.stamps if t >= lo]
                span = (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
                hz = (len(recent) - 1) / span if span > 0 else 0.0
                out[f"{key}_hz"] = f"{hz:.2f}"
            for key, w in self._samples.items():
                vals = [v for t, v in zip(w.stamps, w.values) if t >= lo]
                if vals:
                    p50, p95 = np.percentile(vals, [50, 95])
                    out[f"{key}_p50"] = f"{p50:.1f}"
                    out[f"{key}_p95"] = f"{p95:.1f}"
            for key, n in self._counters.items():
                out[f"{key}_total"] = str(n)
            return self._level, self._message, out

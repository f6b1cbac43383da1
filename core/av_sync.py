"""Lip-sync playout: audio is the master clock, frames are scheduled against it (ROS-free).

Every frame and every audio chunk carries a stamp on one timeline (the audio
time it shows / of its first sample). The display plays both ``delay`` seconds
after their stamps: long enough that the frame generator's output has arrived.

* :class:`AudioOutput` pulls samples from an :class:`AudioBuffer` in the
  PortAudio callback. It picks the sample whose stamp is ``DAC time - delay``
  and then plays on contiguously, re-anchoring only if it drifts more than
  ``resync_s`` from that target (so network jitter never clicks).
* :class:`PlayoutClock` answers "which stamp is being heard right now?". With an
  audio stream it extrapolates from the last callback's DAC time (the audio
  clock); without one it is ``wall time - delay``.
* :class:`Presenter` shows each frame when the clock reaches its stamp (minus
  the measured render time) and records ``clock - stamp`` right after the frame
  is visible: the A/V offset, positive when the picture is late.
"""
import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar.core.diagnostics import DiagnosticsWindow
from avatar.core.timebase import SAMPLE_RATE


@dataclass
class PlayoutConfig:
    sample_rate: int = SAMPLE_RATE
    delay_s: float = -1.0       # fixed playout delay; < 0 = automatic from measured latency
    initial_delay_s: float = 0.3  # automatic mode, before anything was measured
    margin_s: float = 0.05      # automatic mode: added to the p95 latency
    max_delay_s: float = 2.0
    resync_s: float = 0.04      # audio re-anchors when it is this far from the clock
    audio_buffer_s: float = 10.0
    max_frames: int = 64        # frames waiting for their time (covers max_delay at 25 FPS)


class AudioBuffer:
    """Stamped mono chunks, read back by absolute sample index (stamp * rate). Thread-safe."""

    def __init__(self, sample_rate: int, max_s: float):
        self.sample_rate = sample_rate
        self._max = int(max_s * sample_rate)
        self._starts: list[int] = []
        self._chunks: list[np.ndarray] = []
        self._peaks: list[float] = []
        self._lock = threading.Lock()

    def push(self, stamp_s: float, samples: np.ndarray) -> None:
        start = round(stamp_s * self.sample_rate)
        block = samples.astype(np.float32) / 32768.0 if samples.dtype == np.int16 else samples.astype(np.float32)
        with self._lock:
            i = bisect.bisect(self._starts, start)
            self._starts.insert(i, start)
            self._chunks.insert(i, block)
            self._peaks.insert(i, float(np.abs(block).max(initial=0.0)))
            # Bounded: a stalled output must not grow memory.
            while self._starts and self._starts[-1] - self._starts[0] > self._max:
                self._drop_first()

    def _drop_first(self) -> None:
        self._starts.pop(0)
        self._chunks.pop(0)
        self._peaks.pop(0)

    def pending_after(self, stamp_s: float, level: float = 1e-3) -> bool:
        """Is anything audible at or after ``stamp_s`` waiting to be played?"""
        index = round(stamp_s * self.sample_rate)
        with self._lock:
            return any(s + len(c) > index and peak > level
                       for s, c, peak in zip(self._starts, self._chunks, self._peaks, strict=True))

    def read(self, start: int, n: int) -> np.ndarray:
        """Samples [start, start + n) as float32 (n,); silence where nothing was received."""
        out = np.zeros(n, np.float32)
        with self._lock:
            # Everything that ends before ``start`` has been played or is too late.
            while self._starts and self._starts[0] + len(self._chunks[0]) <= start:
                self._drop_first()
            for s, chunk in zip(self._starts, self._chunks, strict=True):
                if s >= start + n:
                    break
                lo, hi = max(s, start), min(s + len(chunk), start + n)
                out[lo - start:hi - start] = chunk[lo - s:hi - s]
        return out


class DelayController:
    """Chooses the playout delay: fixed, or the p95 arrival latency plus a margin.

    Frames and audio are tracked apart (the later stream sets the delay). The delay
    grows as soon as messages come later than it allows (else frames are skipped and
    audio is cut), and shrinks only while nothing audible is queued, so that a load
    spike does not cost latency forever and no speech is cut.
    """

    def __init__(self, cfg: PlayoutConfig, window: int = 100, min_samples: int = 10,
                 shrink_hysteresis_s: float = 0.05):
        self._cfg = cfg
        self._fixed = cfg.delay_s >= 0
        self.delay_s = cfg.delay_s if self._fixed else cfg.initial_delay_s
        self._latencies = {"frame": deque(maxlen=window), "audio": deque(maxlen=window)}
        self._min_samples = min_samples
        self._hysteresis = shrink_hysteresis_s

    def observe(self, latency_s: float, kind: str = "frame", quiet: bool = False) -> bool:
        """Record how late (s) a ``kind`` ("frame" or "audio") message arrived after its stamp;
        ``quiet``: nothing audible is queued to play. True if the delay changed."""
        self._latencies[kind].append(latency_s)
        if self._fixed:
            return False
        need = [float(np.percentile(v, 95)) for v in self._latencies.values() if len(v) >= self._min_samples]
        if not need:
            return False
        want = min(max(max(need) + self._cfg.margin_s, 0.0), self._cfg.max_delay_s)
        if want > self.delay_s + 0.01 or (quiet and want < self.delay_s - self._hysteresis):
            self.delay_s = want
            return True
        return False


class PlayoutClock:
    """The stamp that is being heard now. The audio output drives it when there is one."""

    def __init__(self, delay_s: float, wall: Callable[[], float] = time.time):
        self.delay_s = delay_s
        self._wall = wall
        self._audio_now: Callable[[], float | None] | None = None

    def follow_audio(self, audio_now: Callable[[], float | None]) -> None:
        self._audio_now = audio_now

    def media_now(self) -> float:
        if self._audio_now is not None:
            t = self._audio_now()
            if t is not None:
                return t
        return self._wall() - self.delay_s


class FrameQueue:
    """Frames waiting for their stamp to come up, oldest first. Thread-safe."""

    def __init__(self, max_frames: int):
        self._items: deque = deque(maxlen=max_frames)   # (stamp, payload)
        self._lock = threading.Lock()
        self.skipped = 0

    def push(self, stamp_s: float, payload: Any) -> None:
        with self._lock:
            if self._items and stamp_s <= self._items[-1][0]:
                self.skipped += 1   # out of order or repeated: the stream went backwards
                return
            self._items.append((stamp_s, payload))

    def pop_due(self, media_now: float) -> tuple[float, Any] | None:
        """The newest frame whose stamp has come; older due frames are skipped (too late)."""
        with self._lock:
            due = None
            while self._items and self._items[0][0] <= media_now:
                if due is not None:
                    self.skipped += 1
                due = self._items.popleft()
            return due

    def next_stamp(self) -> float | None:
        with self._lock:
            return self._items[0][0] if self._items else None


class Presenter:
    """Shows frames at their time, on its own thread. ``sink`` does the drawing.

    The sink is opened, polled and closed on this thread (SDL windows must be
    used from the thread that made them):
    ``open()``, ``show(payload)``, ``poll() -> bool`` (False: stop), ``close()``.
    """

    def __init__(self, clock: PlayoutClock, frames: FrameQueue, sink, diag: DiagnosticsWindow,
                 poll_s: float = 0.005):
        self._clock, self._frames, self._sink, self._diag = clock, frames, sink, diag
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.render_s = 0.0          # EMA of show() time: frames are started this early
        self.last_offset_ms: float | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="presenter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._sink.open()
            while not self._stop.is_set() and self._sink.poll():
                self._step()
        except Exception as err:  # noqa: BLE001 - reported to the node, which logs it
            self.error = err
        finally:
            self._sink.close()

    def _step(self) -> None:
        now = self._clock.media_now()
        item = self._frames.pop_due(now + self.render_s)
        if item is None:
            nxt = self._frames.next_stamp()
            wait = self._poll_s if nxt is None else min(self._poll_s, max(0.0, nxt - self.render_s - now))
            self._stop.wait(wait)
            return
        stamp, payload = item
        t0 = time.perf_counter()
        self._sink.show(payload)
        self.render_s += 0.1 * ((time.perf_counter() - t0) - self.render_s)
        offset_ms = (self._clock.media_now() - stamp) * 1000.0
        self.last_offset_ms = offset_ms
        self._diag.tick("frames_shown")
        self._diag.sample("av_offset_ms", offset_ms)


class AudioOutput:
    """Plays an AudioBuffer through sounddevice (PortAudio) on the clock's timeline."""

    def __init__(self, buffer: AudioBuffer, clock: PlayoutClock, cfg: PlayoutConfig, device=None,
                 blocksize: int = 320):
        self._buffer, self._clock, self._cfg = buffer, clock, cfg
        self._device, self._blocksize = device, blocksize
        self._stream = None
        self._pos: int | None = None        # absolute sample index of the next block
        self._anchor: tuple[float, float] | None = None   # (stream DAC time, stamp) of the last block
        self._lock = threading.Lock()
        self.resyncs = 0
        self.underflows = 0
        self.device_name = "none"

    def start(self) -> str | None:
        """Open the output. Returns None, or why there is no sound (the caller logs it once)."""
        # Imported here: importing sounddevice fails where libportaudio is missing,
        # and that must only cost the sound, not the display.
        try:
            import sounddevice as sd
        except OSError as err:   # libportaudio missing
            return str(err)
        try:
            self._stream = sd.OutputStream(
                samplerate=self._cfg.sample_rate, channels=1, dtype="float32", device=self._device,
                blocksize=self._blocksize, latency="low", callback=self._callback)
            self._stream.start()
            self.device_name = sd.query_devices(self._stream.device)["name"]
        except (sd.PortAudioError, ValueError) as err:
            self._stream = None
            return f"{type(err).__name__}: {err}"
        self._clock.follow_audio(self.media_now)
        return None

    def media_now(self) -> float | None:
        """The stamp at the DAC now, extrapolated from the last callback on the stream clock."""
        with self._lock:
            anchor = self._anchor
        if anchor is None or self._stream is None:
            return None
        dac, stamp = anchor
        return stamp + (self._stream.time - dac)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def _callback(self, outdata, frames, time_info, status) -> None:
        if status.output_underflow:
            self.underflows += 1
        rate = self._cfg.sample_rate
        dac = time_info.outputBufferDacTime
        lead = dac - time_info.currentTime
        if not 0.0 <= lead < 1.0:   # some hosts report 0 or garbage: trust the stream latency
            lead, dac = self._stream.latency, time_info.currentTime + self._stream.latency
        target = round((time.time() + lead - self._clock.delay_s) * rate)
        if self._pos is None or abs(self._pos - target) > self._cfg.resync_s * rate:
            self._pos = target
            self.resyncs += 1
        outdata[:, 0] = self._buffer.read(self._pos, frames)
        with self._lock:
            self._anchor = (dac, self._pos / rate)
        self._pos += frames

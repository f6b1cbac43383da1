"""Real-time audio sources behind audio_capture and speech_source (ROS-free).

Every source hands out ``Chunk``s of 16 kHz mono int16 through a blocking
``read(stop)``; ``ChunkPump`` runs one in a thread, publishes its chunks and
restarts it with backoff when it fails. Stamps are the capture (or playback)
time of each chunk's first sample on the caller's clock (``now``, e.g. the ROS
clock); the pacing itself uses ``time.monotonic`` deadlines, so it neither
drifts nor depends on how long publishing takes.
"""
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from avatar.core.audio_io import CHUNK_SAMPLES, SAMPLE_RATE, Rechunker, StreamResampler, load_audio, to_int16
from avatar.core.errors import AvatarError, InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aiff", ".aif")


@dataclass(frozen=True)
class Chunk:
    samples: np.ndarray        # (N,) int16, mono
    stamp: float               # time of the first sample, seconds on the source's clock
    sample_rate: int = SAMPLE_RATE


class Pacer:
    """Deadline schedule for fixed-length chunks, like a capture device delivers them.

    Chunk k covers [start + k * period, start + (k + 1) * period) and is due when
    its last sample has "arrived", at the end of that span; its stamp is the
    start. If the caller falls more than ``max_late_s`` behind (a suspended
    process), the schedule restarts from now instead of bursting the backlog
    out; the stamps jump with it, like a real capture that lost audio.
    """

    def __init__(self, period_s: float, now: Callable[[], float], max_late_s: float = 0.5,
                 monotonic: Callable[[], float] = time.monotonic):
        self.period_s = period_s
        self._now, self._mono, self._max_late = now, monotonic, max_late_s
        self.restart()

    def restart(self) -> None:
        self._k = 0
        self._mono0 = self._mono()
        self._wall0 = self._now()

    def wait(self, stop: threading.Event) -> float | None:
        """Block until the next chunk is due; its stamp, or None if ``stop`` was set."""
        due = self._mono0 + (self._k + 1) * self.period_s
        late = self._mono() - due
        if late > self._max_late:
            self.restart()
            due = self._mono0 + self.period_s
            late = self._mono() - due
        if late < 0 and stop.wait(-late):
            return None
        if stop.is_set():
            return None
        stamp = self._wall0 + self._k * self.period_s
        self._k += 1
        return stamp


class ClipPlayer:
    """Plays clips from ``next_clip`` back to back in real time, chunk by chunk.

    ``next_clip()`` returns the next int16 clip or None when there is nothing
    to play. Between clips the player sends silence if ``fill_silence``;
    otherwise it sends nothing and the next clip starts a new stream (stamps
    jump to the present).
    """

    def __init__(self, next_clip: Callable[[], np.ndarray | None], now: Callable[[], float],
                 fill_silence: bool = True, chunk: int = CHUNK_SAMPLES, poll_s: float = 0.05):
        self._next_clip = next_clip
        self._fill = fill_silence
        self._chunk = chunk
        self._poll_s = poll_s
        self._pacer = Pacer(chunk / SAMPLE_RATE, now)
        self._buf = np.zeros(0, np.int16)
        self._streaming = fill_silence      # without silence, the pacer starts with the first clip

    def read(self, stop: threading.Event) -> Chunk | None:
        while not self._fill and not self._refill(1):      # nothing to play: wait for a clip
            self._streaming = False
            if stop.wait(self._poll_s):
                return None
        if not self._streaming:
            self._pacer.restart()
            self._streaming = True
        stamp = self._pacer.wait(stop)
        if stamp is None:
            return None
        self._refill(self._chunk)
        out, self._buf = self._buf[:self._chunk], self._buf[self._chunk:]
        if len(out) < self._chunk:
            out = np.concatenate([out, np.zeros(self._chunk - len(out), np.int16)])
        return Chunk(out, stamp)

    def _refill(self, need: int) -> bool:
        """Append clips until ``need`` samples are buffered or none is left; True if any are."""
        while len(self._buf) < need:
            clip = self._next_clip()
            if clip is None or len(clip) == 0:
                break
            self._buf = np.concatenate([self._buf, clip])
        return len(self._buf) > 0

    def close(self) -> None:
        """Nothing to release; present so that all sources close the same way."""


def silence_source(now: Callable[[], float]) -> ClipPlayer:
    return ClipPlayer(lambda: None, now, fill_silence=True)


def file_source(path: str, now: Callable[[], float], loop: bool = False,
                fill_silence: bool = True) -> ClipPlayer:
    """A file played in real time, looped or once (then silence, like a quiet microphone, or nothing)."""
    clip = to_int16(load_audio(path))
    remaining = [clip]

    def next_clip():
        if loop:
            return clip
        return remaining.pop() if remaining else None
    return ClipPlayer(next_clip, now, fill_silence=fill_silence)


# Inputs longer than this get a warning when they are queued: they play in real time, and are
# decoded into memory whole (about 64 kB per second of audio).
LONG_INPUT_S = 600.0


def probe_audio(path: str | Path) -> float:
    """Seconds of audio in ``path``, checked by decoding its first audio frame (cheap even for
    hours of audio); InputError with the reason for a missing, empty or non-audio file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such file: {p}" if not p.exists() else f"{p} is not a regular file")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (0 bytes)")
    try:
        with av.open(str(p)) as container:
            if not container.streams.audio:
                raise InputError(f"{p} has no audio stream")
            stream = container.streams.audio[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise InputError(f"{p} holds no decodable audio")
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return (container.duration or 0) / av.time_base
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{p} is not a readable audio file: {_one_line(err)}") from None


def format_length(seconds: float) -> str:
    """12.3 s, or 1:02:03 for long inputs."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class DirectoryQueue:
    """Audio files dropped into a directory, taken in name order, moved to ``done/`` once played.

    Files that cannot be decoded go to ``failed/``. Hidden files, ``*.part`` /
    ``*.tmp`` and files modified in the last ``settle_s`` are left alone, so a
    writer can create a file in place; writing elsewhere and renaming it in is
    better still.
    """

    def __init__(self, directory: str, warn: Callable[[str], None], settle_s: float = 0.2,
                 scan_every_s: float = 0.1):
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise InputError(f"speech queue directory not found: {self.dir}")
        self._warn = warn
        self._settle_s = settle_s
        self._scan_every_s = scan_every_s
        self._last_scan = -1e9
        self._playing: Path | None = None
        self.played: list[str] = []

    @property
    def current(self) -> str:
        """Name of the file being played ("" between files)."""
        return self._playing.name if self._playing else ""

    def next_clip(self) -> np.ndarray | None:
        """Called when the previous clip is all buffered for playing (its last chunk may be pending)."""
        if self._playing is not None:
            self._move(self._playing, "done")
            self.played.append(self._playing.name)
            self._playing = None
        # The player asks every chunk while idle; a directory listing 50 times a second is wasteful.
        if time.monotonic() - self._last_scan < self._scan_every_s:
            return None
        for path in self._ready_files():
            try:
                clip = to_int16(load_audio(path))
            except InputError as err:
                self._warn(f"skipping {path.name}: {err}")
                self._move(path, "failed")
                continue
            self._playing = path
            return clip
        self._last_scan = time.monotonic()
        return None

    def _ready_files(self) -> list[Path]:
        now = time.time()
        try:
            return [p for p in sorted(self.dir.iterdir())
                    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES
                    and now - p.stat().st_mtime >= self._settle_s]
        except OSError as err:       # the directory was removed, or a file vanished while listing
            raise AvatarError(f"cannot read speech queue {self.dir}: {err.strerror}") from None

    def _move(self, path: Path, sub: str) -> None:
        target = self.dir / sub
        target.mkdir(exist_ok=True)
        try:
            path.replace(target / path.name)
        except OSError as err:
            self._warn(f"cannot move {path.name} to {sub}/: {err.strerror}")


class MicSource:
    """A PortAudio input device (sounddevice), resampled to 16 kHz mono 20 ms chunks.

    ``device`` is None (the default input), an index, or part of a device name.
    Raises AvatarError (one line) when the device is missing or stops delivering.
    """

    def __init__(self, device: int | str | None, now: Callable[[], float], stall_s: float = 2.0):
        import sounddevice as sd
        self._now, self._stall_s = now, stall_s
        self._blocks: queue.Queue = queue.Queue(maxsize=100)   # 2 s of 20 ms blocks
        self._resampler = StreamResampler(SAMPLE_RATE)
        self._chunks = Rechunker(CHUNK_SAMPLES, np.float32)
        self._ready: list[Chunk] = []
        self.dropped_blocks = 0
        try:
            info = sd.query_devices(device, "input")
            self.name, self.rate = info["name"], int(info["default_samplerate"])
            # The device's own rate: PortAudio's ALSA backend has no resampler of its own.
            self._stream = sd.InputStream(device=device, channels=1, samplerate=self.rate, dtype="float32",
                                          blocksize=self.rate // 50, callback=self._on_block)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as err:
            raise AvatarError(f"microphone {_device_label(device)} unavailable: {_one_line(err)}") from None
        self._last_block = time.monotonic()

    def _on_block(self, indata, frames, time_info, status) -> None:
        # PortAudio's thread: stamp and hand over, never block. The ADC time is on the
        # stream's clock; its distance from "now" converts it to the caller's clock.
        adc = time_info.inputBufferAdcTime
        age = self._stream.time - adc if adc > 0 else frames / self.rate
        try:
            self._blocks.put_nowait((indata[:, 0].copy(), self._now() - max(0.0, age)))
        except queue.Full:
            self.dropped_blocks += 1

    def read(self, stop: threading.Event) -> Chunk | None:
        while not self._ready and not stop.is_set():
            try:
                block, stamp = self._blocks.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - self._last_block > self._stall_s or not self._stream.active:
                    raise AvatarError(f"microphone {self.name!r} stopped delivering audio") from None
                continue
            self._last_block = time.monotonic()
            first = stamp - self._chunks.pending / SAMPLE_RATE   # stamp of the oldest buffered sample
            for j, c in enumerate(self._chunks.push(self._resampler.push(block, self.rate))):
                self._ready.append(Chunk(to_int16(c), first + j * CHUNK_SAMPLES / SAMPLE_RATE))
        return self._ready.pop(0) if self._ready else None

    def close(self) -> None:
        self._stream.close()


def check_input_device(device: int | str | None) -> str:
    """The name of the PortAudio input ``device`` (None = the default); AvatarError if there is none."""
    try:
        import sounddevice as sd
    except OSError as err:          # the PortAudio library itself is missing
        raise AvatarError(f"no sound system: {_one_line(err)}") from None
    try:
        return sd.query_devices(device, "input")["name"]
    except (sd.PortAudioError, ValueError) as err:
        raise AvatarError(f"microphone {_device_label(device)} unavailable: {_one_line(err)}") from None


def parse_device(spec: str) -> int | str | None:
    """"mic" -> default device, "mic:3" -> index 3, "mic:USB" -> first device whose name contains USB."""
    name = spec.partition(":")[2].strip()
    if not name:
        return None
    return int(name) if name.isdigit() else name


def _device_label(device) -> str:
    return "(default)" if device is None else repr(device)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


class ChunkPump:
    """Runs a source in a thread: publishes its chunks, restarts it with backoff when it fails.

    ``make_source()`` builds a fresh source (it may raise AvatarError, e.g. no
    microphone). A failure is reported once through ``on_error`` until the
    source works again (then ``on_recover``), so a missing device gives one
    clear log line, not one per retry.
    """

    def __init__(self, make_source: Callable, publish: Callable[[Chunk], None],
                 on_error: Callable[[str], None], on_recover: Callable[[], None] = lambda: None,
                 backoff_s: tuple[float, float] = (0.5, 10.0)):
        self._make, self._publish = make_source, publish
        self._on_error, self._on_recover = on_error, on_recover
        self._backoff = backoff_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chunk-pump", daemon=True)
        self.failures = 0

    def start(self) -> "ChunkPump":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = self._backoff[0]
        last_error = None
        while not self._stop.is_set():
            source = None
            try:
                source = self._make()
                while not self._stop.is_set():
                    chunk = source.read(self._stop)
                    if chunk is None:
                        continue
                    if last_error is not None:
                        last_error, delay = None, self._backoff[0]
                        self._on_recover()
                    self._publish(chunk)
            except Exception as err:  # noqa: BLE001 - a source bug must not end the stream for good
                message = str(err) if isinstance(err, AvatarError) else f"{type(err).__name__}: {err}"
                self.failures += 1
                if message != last_error:
                    self._on_error(message)
                last_error = message
                self._stop.wait(delay)
                delay = min(2 * delay, self._backoff[1])
            finally:
                if source is not None:
                    source.close()

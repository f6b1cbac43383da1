"""The recording core behind the recorder node (ROS-free; its rosbag2 writer is nodes/bag.py).

``StampedMp4Recorder`` places stamped frames and audio chunks on the fixed
timeline of an :class:`~avatar.core.video_io.Mp4Writer`: time 0 is the first
frame's stamp, video stays at a constant frame rate (a missing frame repeats the
previous one, a second frame for the same slot is dropped) and audio is placed
by its stamps (gaps become silence, overlaps are trimmed).
"""
import threading
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from avatar.core.errors import InputError
from avatar.core.video_io import Mp4Writer
from avatar.core.timebase import FPS, SAMPLE_RATE


@dataclass
class TimelineConfig:
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    # Stamp jitter below this is absorbed (audio stays contiguous); above, gaps are
    # filled with silence and overlaps trimmed.
    audio_tolerance_s: float = 0.02
    # A stamp jump larger than this is a discontinuity (clock reset, paused source):
    # the recording continues right after the last frame instead of filling the jump.
    max_gap_s: float = 10.0
    # Audio that arrives before the first frame waits this long at most.
    preroll_s: float = 5.0


class StampedMp4Recorder:
    """Thread-safe: image and audio callbacks may run concurrently."""

    def __init__(self, path: str, config: TimelineConfig | None = None, **writer_options):
        self.path = path
        self.cfg = config or TimelineConfig()
        self._writer_options = writer_options
        self._writer: Mp4Writer | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._t0: float | None = None          # stamp (s) of timeline time 0
        self._last_frame: np.ndarray | None = None
        self._pending_audio: deque = deque()   # (stamp, mono samples) before the first frame
        # Audio placed on the timeline but not yet written: it is written as the frames for its
        # time arrive, so a recording stopped while frames lag behind the (real-time) audio
        # ends with both tracks the same length instead of seconds of audio without picture.
        self._ahead: deque = deque()
        self._placed = 0                       # samples placed (written + ahead)
        self.stats = {"frames_in": 0, "frames_repeated": 0, "frames_dropped": 0,
                      "audio_gap_samples": 0, "audio_trimmed_samples": 0, "discontinuities": 0,
                      "audio_cut_at_end_samples": 0}

    def add_frame(self, stamp_s: float, rgb: np.ndarray) -> None:
        with self._lock:
            if self._closed:
                return
            self.stats["frames_in"] += 1
            if self._writer is None:
                self._start(stamp_s, rgb)
            rgb = self._fit(rgb)
            w = self._writer
            slot = round((stamp_s - self._t0) * self.cfg.fps)
            if abs(slot - w.frames_written) > self.cfg.max_gap_s * self.cfg.fps:
                self._rebase(stamp_s - w.frames_written / self.cfg.fps)
                slot = w.frames_written
            if slot < w.frames_written:
                self.stats["frames_dropped"] += 1
                return
            while w.frames_written < slot:
                w.write_frame(self._last_frame)
                self.stats["frames_repeated"] += 1
            w.write_frame(rgb)
            self._last_frame = rgb
            self._flush()

    def add_audio(self, stamp_s: float, samples: np.ndarray) -> None:
        with self._lock:
            if self._closed:
                return
            if self._writer is None:
                self._pending_audio.append((stamp_s, samples))
                while stamp_s - self._pending_audio[0][0] > self.cfg.preroll_s:
                    self._pending_audio.popleft()
                return
            self._place_audio(stamp_s, samples)

    def close(self) -> bool:
        """Finish the file. Returns True if a playable MP4 was written (it needs one frame)."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self._writer is None:
                return False
            self._flush()
            self.stats["audio_cut_at_end_samples"] = sum(len(x) for x in self._ahead)
            self._ahead.clear()
            return self._writer.close()

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written if self._writer else 0

    # -- internals (called with the lock held) -------------------------------
    def _start(self, stamp_s: float, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        self._writer = Mp4Writer(self.path, w - w % 2, h - h % 2, fps=self.cfg.fps,
                                 sample_rate=self.cfg.sample_rate, **self._writer_options)
        self._t0 = stamp_s
        while self._pending_audio:
            self._place_audio(*self._pending_audio.popleft())

    def _rebase(self, t0: float) -> None:
        self.stats["discontinuities"] += 1
        self._t0 = t0

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        """Frames must keep the first frame's size; a resized stream is scaled to it."""
        w = self._writer
        if rgb.shape[:2] != (w.height, w.width):
            rgb = cv2.resize(rgb, (w.width, w.height), interpolation=cv2.INTER_AREA)
        return rgb

    def _place_audio(self, stamp_s: float, samples: np.ndarray) -> None:
        start = round((stamp_s - self._t0) * self.cfg.sample_rate)
        offset = start - self._placed
        tolerance = self.cfg.audio_tolerance_s * self.cfg.sample_rate
        if abs(offset) <= tolerance:
            offset = 0
        if abs(offset) > self.cfg.max_gap_s * self.cfg.sample_rate:
            offset = 0  # a discontinuity: continue right after the previous chunk
            self.stats["discontinuities"] += 1
        if offset > 0:
            self._queue(np.zeros(offset, np.float32))
            self.stats["audio_gap_samples"] += offset
        elif offset < 0:
            trim = min(-offset, len(samples))
            samples = samples[trim:]
            self.stats["audio_trimmed_samples"] += trim
        self._queue(samples)
        self._flush()

    def _queue(self, samples: np.ndarray) -> None:
        if len(samples):
            self._ahead.append(samples)
            self._placed += len(samples)

    def _flush(self) -> None:
        """Write the audio the frames have reached, and any beyond ``max_gap_s`` ahead (frames
        that stopped must not hold audio in memory forever)."""
        w = self._writer
        limit = max(w.frames_written * self.cfg.sample_rate // self.cfg.fps,
                    self._placed - int(self.cfg.max_gap_s * self.cfg.sample_rate))
        while self._ahead and w.samples_written < limit:
            block = self._ahead.popleft()
            n = min(len(block), limit - w.samples_written)
            if n < len(block):
                self._ahead.appendleft(block[n:])
            w.write_audio(block[:n])

"""Streaming MP4 writer: H.264 video (libx264, yuv420p) + AAC audio, fed incrementally.

Used by the recorder node and by ``avatar render``. The two streams are kept
aligned by counts, not by wall time: video frame ``n`` is at ``n / fps`` seconds
and audio sample ``k`` at ``k / sample_rate``, both from 0. ``close()`` flushes
both encoders and pads the audio with silence up to the end of the video, so a
file that was closed is always playable and its tracks have the same length.
"""
import os
from fractions import Fraction

import av
import numpy as np

from avatar.core.audio_io import to_float_audio
from avatar.core.errors import InputError
from avatar.core.timebase import FPS, SAMPLE_RATE


# Crash-safe MP4: a fragment (moof + mdat) is written at every keyframe, the header (moov) holds no
# sample table, and packets go to the file at once. A process killed mid-write leaves a file that
# plays up to the last complete fragment.
FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+delay_moov+default_base_moof"

class Mp4Writer:
    """Incremental MP4 writer.

    >>> with Mp4Writer("out.mp4", 256, 256) as w:
    ...     w.write_frame(rgb)          # np.uint8 (H, W, 3)
    ...     w.write_audio(samples)      # int16 or float32 mono block, any length

    A writer closed before any frame was written leaves no file: an MP4
    without video samples is not playable.

    ``fragmented=True`` writes a fragmented MP4 with a keyframe every second: if the
    process dies (SIGKILL, power loss) the file still plays, up to about a second
    before the end. Players and PyAV read it like any MP4.
    """

    def __init__(self, path: str, width: int, height: int, fps: int = FPS, sample_rate: int = SAMPLE_RATE,
                 crf: int = 18, preset: str = "veryfast", audio_bitrate: int = 64000, fragmented: bool = False):
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            # yuv420p subsamples chroma by 2 in both directions.
            raise InputError(f"video size must be positive and even, got {width}x{height}")
        if fps <= 0 or sample_rate <= 0:
            raise InputError(f"fps and sample_rate must be positive, got {fps}, {sample_rate}")
        self.path = str(path)
        self.width, self.height = int(width), int(height)
        self.fps, self.sample_rate = int(fps), int(sample_rate)
        self.frames_written = 0
        self.samples_written = 0
        self._closed = False
        parent = os.path.dirname(os.path.abspath(self.path))
        # PyAV opens the file only at the first packet: check now, not mid-recording.
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise InputError(f"cannot write {self.path}: {parent} is not a writable directory")
        options = {"movflags": FRAGMENTED_MOVFLAGS, "flush_packets": "1"} if fragmented else {}
        try:
            self._container = av.open(self.path, mode="w", format="mp4", options=options)
        except (OSError, av.FFmpegError) as err:
            raise InputError(f"cannot write {self.path}: {err}") from err
        self._video = self._container.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        # zerolatency: no B-frames or lookahead, so every write_frame() produces its packet
        # promptly and an interrupted recording loses at most a frame or two of delay.
        video_options = {"crf": str(crf), "preset": preset, "tune": "zerolatency"}
        if fragmented:
            # One fragment per keyframe: a keyframe every second bounds what a crash loses.
            video_options.update(g=str(self.fps), keyint_min=str(self.fps))
        self._video.options = video_options
        self._audio = self._container.add_stream("aac", rate=self.sample_rate, layout="mono")
        self._audio.bit_rate = audio_bitrate

    # -- writing ------------------------------------------------------------
    def write_frame(self, rgb: np.ndarray) -> None:
        """Append one frame; it is shown at ``frames_written / fps`` seconds."""
        self._check_open()
        arr = np.asarray(rgb)
        if arr.shape != (self.height, self.width, 3) or arr.dtype != np.uint8:
            raise InputError(f"frame must be uint8 ({self.height}, {self.width}, 3), "
                             f"got {arr.dtype} {arr.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = Fraction(1, self.fps)
        self._mux(self._video.encode(frame))
        self.frames_written += 1

    def write_audio(self, block: np.ndarray) -> None:
        """Append mono samples (int16, or float in [-1, 1]) right after the previous block."""
        self._check_open()
        self._encode_audio(to_float_audio(block))

    def write_silence(self, n_samples: int) -> None:
        self._check_open()
        self._encode_silence(n_samples)

    def _encode_audio(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")  # (1, S)
        frame.sample_rate = self.sample_rate
        frame.pts = self.samples_written
        frame.time_base = Fraction(1, self.sample_rate)
        self._mux(self._audio.encode(frame))
        self.samples_written += samples.size

    def _encode_silence(self, n_samples: int) -> None:
        # In blocks, so that a long gap does not allocate one huge array.
        while n_samples > 0:
            n = min(self.sample_rate, n_samples)
            self._encode_audio(np.zeros(n, np.float32))
            n_samples -= n

    @property
    def video_duration_s(self) -> float:
        return self.frames_written / self.fps

    @property
    def audio_duration_s(self) -> float:
        return self.samples_written / self.sample_rate

    # -- finishing ----------------------------------------------------------
    def close(self) -> bool:
        """Flush encoders and finish the file. Returns True if a playable file was written.

        Safe to call more than once.
        """
        if self._closed:
            return self.frames_written > 0
        self._closed = True
        try:
            if self.frames_written > 0:
                video_samples = self.frames_written * self.sample_rate // self.fps
                self._encode_silence(video_samples - self.samples_written)
                self._mux(self._video.encode(None))
                self._mux(self._audio.encode(None))
        finally:
            self._container.close()
        if self.frames_written == 0:
            # PyAV creates the file at the first packet, so usually there is nothing to remove.
            if os.path.exists(self.path):
                os.remove(self.path)
            return False
        return True

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"{self.path} is already closed")

"""The live session behind the frame_generator node, without ROS.

Maps stamped inputs (audio chunks, state and expression changes, in seconds of
the node's clock) onto the engine's audio timeline, and stamps each output frame
with the audio time it shows. Audio-to-frame latency is measured per frame as
the wall time from the moment the frame's last audio sample was due (on the
live clock) to the moment the frame left the decoder.
"""
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from avatar.core.audio_io import StreamResampler
from avatar.core.expression import DIM
from avatar.model_runtime.engine.streaming import EngineConfig, Frame, StreamingEngine
from avatar.model_runtime.engine.timeline import FPS, SAMPLE_RATE

MAX_FUTURE_S = 30.0   # audio stamped further ahead than this is a clock error, not speech


@dataclass
class StampedFrame:
    frame: Frame
    stamp_s: float          # the audio time the frame shows (node clock, seconds)
    latency_ms: float       # audio-to-frame latency


class LiveSession:
    def __init__(self, renderer, motion, portrait: np.ndarray, config: EngineConfig, origin_s: float):
        if not config.live:
            raise ValueError("LiveSession needs EngineConfig(live=True)")
        self.engine = StreamingEngine(renderer, motion, portrait, config)
        self.origin_s = origin_s
        self._resampler = StreamResampler(SAMPLE_RATE)
        self._next_sample: int | None = None
        self.started_mono: float | None = None
        self.first_frame_ms: float | None = None

    def start(self) -> None:
        self.engine.start()
        self.started_mono = self.engine.origin

    def stop(self) -> None:
        self.engine.stop()

    def _sample_at(self, stamp_s: float) -> int:
        return int(round((stamp_s - self.origin_s) * SAMPLE_RATE))

    def _frame_at(self, stamp_s: float) -> int:
        return max(0, int(np.floor((stamp_s - self.origin_s) * FPS)))

    def push_audio(self, mono: np.ndarray, rate: int, stamp_s: float) -> bool:
        """Place a chunk on the timeline; False (dropped) if it is from before the session or absurdly late."""
        start = self._sample_at(stamp_s)
        if start + len(mono) * SAMPLE_RATE // max(rate, 1) <= 0 or start > MAX_FUTURE_S * SAMPLE_RATE + \
                self.engine.clock_sample():
            return False
        if self._next_sample is None or abs(start - self._next_sample) > SAMPLE_RATE // 50:
            self._resampler.reset()      # a gap or a jump: do not smear old filter state into it
        out = self._resampler.push(mono, rate)
        self.engine.write_audio(out, start)
        self._next_sample = start + len(out)
        return True

    def push_state(self, state: int, stamp_s: float) -> None:
        self.engine.set_state(self._frame_at(stamp_s), int(state))

    def push_expression(self, vector: np.ndarray, stamp_s: float) -> None:
        vec = np.asarray(vector, np.float32).reshape(DIM)
        self.engine.set_expression(self._frame_at(stamp_s), vec)

    def set_portrait(self, portrait: np.ndarray) -> None:
        self.engine.set_reference(portrait)

    def frames(self) -> Iterator[StampedFrame]:
        for frame in self.engine.frames():
            due = self.engine.origin + (frame.index + 1) / FPS
            latency_ms = (frame.done_at - due) * 1e3
            if self.first_frame_ms is None:
                self.first_frame_ms = (time.monotonic() - self.started_mono) * 1e3
            yield StampedFrame(frame, self.origin_s + frame.index / FPS, latency_ms)

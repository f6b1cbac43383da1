"""Voice activity on one audio channel: silero-vad probabilities plus hysteresis.

``ChannelVad`` takes audio in whatever pieces, rates and channel counts it arrives
in, cuts it into silero's 512-sample windows at 16 kHz and returns one
``WindowDecision`` per window, stamped with the audio time at the window's end.
``Hysteresis`` turns the probabilities into a stable speech/no-speech flag:

* speech starts when the probability stays >= ``onset`` for ``min_speech_s``;
* speech ends when it stays < ``offset`` for ``hangover_s`` (pauses between
  words shorter than that do not end a turn).
"""
import warnings
from dataclasses import dataclass

import numpy as np

from avatar.core.audio_io import SAMPLE_RATE, Rechunker, StreamResampler
from avatar.core.errors import InputError

WINDOW = 512                          # silero-vad's window at 16 kHz
WINDOW_S = WINDOW / SAMPLE_RATE       # 32 ms


@dataclass(frozen=True)
class VadConfig:
    onset: float = 0.5            # probability that starts speech
    offset: float = 0.35          # probability below which silence is counted
    # Onset evidence needed before speech is declared. One window keeps the onset
    # latency p95 near 120 ms; two windows cost 30 ms more and did not help at 10 dB SNR.
    min_speech_s: float = 0.032
    # Silence needed before speech is declared over: long enough to bridge the
    # pause between two sentences of one turn (espeak: 0.3-0.4 s), see docs/AUDIO_AND_STATE.md.
    hangover_s: float = 0.45
    max_gap_s: float = 0.25       # a jump in chunk stamps larger than this starts a new stream

    def __post_init__(self):
        if not 0.0 < self.offset <= self.onset < 1.0:
            raise InputError(f"VAD thresholds need 0 < offset <= onset < 1, got offset={self.offset} "
                             f"onset={self.onset}")
        if min(self.min_speech_s, self.hangover_s) < 0.0 or self.max_gap_s <= 0.0:
            raise InputError("VAD durations must be >= 0 (max_gap_s > 0)")


@dataclass(frozen=True)
class WindowDecision:
    end: float        # audio time (s) of the window's last sample + 1 sample
    prob: float       # silero speech probability
    speech: bool      # hysteresis output after this window


class SileroModel:
    """silero-vad's ONNX model on one thread (0.1 ms per 32 ms window), one stream of state."""

    def __init__(self):
        import torch
        threads = torch.get_num_threads()
        # silero_vad calls torch.set_num_threads(1) when imported; keep the caller's setting.
        from silero_vad import load_silero_vad
        torch.set_num_threads(threads)
        self._torch = torch
        with warnings.catch_warnings():
            # Its loader uses importlib.resources.path, deprecated but working in 3.11/3.12.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._model = load_silero_vad(onnx=True)

    def __call__(self, window: np.ndarray) -> float:
        """window: float32 (512,) at 16 kHz -> speech probability."""
        x = self._torch.from_numpy(np.ascontiguousarray(window, np.float32))
        return float(self._model(x, SAMPLE_RATE).item())

    def reset(self) -> None:
        self._model.reset_states()


class Hysteresis:
    """Onset/offset thresholds with minimum speech length and hangover, in whole windows."""

    def __init__(self, cfg: VadConfig, window_s: float = WINDOW_S):
        # Round so that e.g. 0.064 s is exactly 2 windows of 0.032 s, not 3.
        self._need_on = max(1, int(np.ceil(cfg.min_speech_s / window_s - 1e-6)))
        self._need_off = max(1, int(np.ceil(cfg.hangover_s / window_s - 1e-6)))
        self._cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.speech = False
        self._run = 0      # consecutive windows of evidence for the other state

    def update(self, prob: float) -> bool:
        if self.speech:
            self._run = self._run + 1 if prob < self._cfg.offset else 0
            if self._run >= self._need_off:
                self.speech, self._run = False, 0
        else:
            self._run = self._run + 1 if prob >= self._cfg.onset else 0
            if self._run >= self._need_on:
                self.speech, self._run = True, 0
        return self.speech


class ChannelVad:
    """One channel: any chunking, rate and channel count in; stamped window decisions out."""

    def __init__(self, cfg: VadConfig, model: SileroModel | None = None):
        self.cfg = cfg
        self.model = model or SileroModel()
        self.hysteresis = Hysteresis(cfg)
        self._resampler = StreamResampler(SAMPLE_RATE)
        self._windows = Rechunker(WINDOW)
        self._expected: float | None = None   # stamp where the next chunk should start

    def reset(self) -> None:
        """Start a new stream: forget the model's memory, partial windows and the speech flag."""
        self.model.reset()
        self.hysteresis.reset()
        self._resampler.reset()
        self._windows.reset()
        self._expected = None

    def push(self, mono: np.ndarray, rate: int, stamp: float) -> list[WindowDecision]:
        """mono: float32 (S,) at ``rate``; stamp: audio time (s) of its first sample."""
        if self._expected is not None:
            jump = stamp - self._expected
            # Stamps jitter by a few ms; a backwards step or a long hole is a different stream.
            if jump < -0.05 or jump > self.cfg.max_gap_s:
                self.reset()
        self._expected = stamp + len(mono) / rate
        pending = self._windows.pending
        x16 = self._resampler.push(mono, rate)
        decisions = []
        for k, window in enumerate(self._windows.push(x16)):
            # Times come from this chunk's stamp, so that clock drift never accumulates.
            end = stamp + ((k + 1) * WINDOW - pending) / SAMPLE_RATE
            prob = self.model(window)
            decisions.append(WindowDecision(end, prob, self.hysteresis.update(prob)))
        return decisions


def speech_intervals(decisions: list[WindowDecision], cfg: VadConfig, aligned: bool = False,
                     final: bool = True) -> list[tuple[float, float]]:
    """Speech (start, end) intervals from consecutive window decisions of one stream.

    Causal (``aligned=False``): when the flag rose and fell, i.e. what a live
    listener knows at once. Aligned: the same intervals moved back to where the
    evidence began (first window of the onset run) and ended (last window
    >= offset), which needs to see past the boundary. With ``final=False`` the
    stream goes on after the last decision, so an interval still open there is
    not cut short.
    """
    out: list[tuple[float, float]] = []
    start_idx = None
    for i, d in enumerate(decisions):
        if d.speech and start_idx is None:
            start_idx = i
        elif not d.speech and start_idx is not None:
            out.append(_interval(decisions, cfg, start_idx, i, aligned))
            start_idx = None
    if start_idx is not None:
        out.append(_interval(decisions, cfg, start_idx, len(decisions), aligned, back_date_end=final))
    return out


def _interval(ds: list[WindowDecision], cfg: VadConfig, rise: int, fall: int, aligned: bool,
              back_date_end: bool = True) -> tuple[float, float]:
    end_t = ds[fall].end if fall < len(ds) else ds[-1].end
    if not aligned:
        return ds[rise].end, end_t
    first = rise
    while first > 0 and ds[first - 1].prob >= cfg.onset and not ds[first - 1].speech:
        first -= 1
    if back_date_end:
        last = fall - 1
        while last > rise and ds[last].prob < cfg.offset:
            last -= 1
        end_t = ds[last].end
    return ds[first].end - WINDOW_S, end_t

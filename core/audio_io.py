"""Audio in and out for the whole project: decode files, convert, resample, chunk.

Everything here is ROS-free and works on numpy arrays. Float audio is float32 in
[-1, 1]; PCM is int16. The project's internal format is 16 kHz mono
(``SAMPLE_RATE``), streamed in 20 ms chunks (``CHUNK_SAMPLES``).
"""
import re
from collections.abc import Iterator
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from avatar.core.errors import InputError
from avatar.core.timebase import SAMPLE_RATE

# PyAV and soundfile are imported where files are decoded or written (and where PyAV resamples
# streams), not here: the streaming engine imports this module through the VAD for its chunking
# alone, and runs where neither is installed (the GPU check's machine, docs/ENGINE.md).

CHUNK_SAMPLES = 320          # 20 ms at 16 kHz: the AudioChunk size our sources publish
MAX_RATE = 768_000           # above any real converter; larger values are header corruption
_TRUNCATED = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


# -- files -------------------------------------------------------------------

def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` (anything soundfile or PyAV reads) to mono float32 (S,) at ``sample_rate``.

    Raises InputError with a one-line reason for a missing, empty, undecodable or
    non-finite file.
    """
    _check_rate(sample_rate, "target sample rate")
    x, rate = read_audio_file(path)               # (S, C)
    return resample(downmix(x), rate, sample_rate)


def read_audio_file(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode at the file's own rate: (float32 (S, C), rate). Validated, never empty."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise InputError(f"audio file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise InputError(f"audio file is empty (0 bytes): {p}")
    try:
        x, rate = _read_soundfile(p)
    except (sf.LibsndfileError, sf.SoundFileError, RuntimeError, ValueError):
        # libsndfile has no AAC/M4A/Opus-in-MP4/...; FFmpeg (PyAV) reads nearly everything else.
        x, rate = _read_pyav(p)
    _check_rate(rate, f"sample rate in {p}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"{p} contains no audio samples")
    if not np.isfinite(x).all():
        raise InputError(f"{p} contains NaN or infinite samples")
    return x, rate


def _read_soundfile(p: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(str(p)) as f:
        _check_not_truncated(p, f.extra_info)
        x = f.read(dtype="float32", always_2d=True)   # ints are scaled to [-1, 1)
        return x, int(f.samplerate)


def _check_not_truncated(p: Path, extra_info: str) -> None:
    """libsndfile reads a cut-off WAV/AIFF without complaint; its header dump shows the cut.

    "data : 89744 (should be 956)" means the header promised more bytes than the
    file holds. Streaming writers leave 0 or 0xFFFFFFFF there; those are fine.
    """
    m = _TRUNCATED.search(extra_info)
    if m:
        claimed, present = int(m.group(1)), int(m.group(2))
        if 0 < present < claimed < 0xFFFFFFFF:
            raise InputError(f"{p} is truncated: its header promises {claimed} bytes of audio, "
                             f"the file holds {present}")


def _read_pyav(p: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(p)) as container:
            if not container.streams.audio:
                raise InputError(f"{p} has no audio stream")
            stream = container.streams.audio[0]
            # Planar float keeps the channel layout and rate; any sample format converts to it.
            to_float = av.AudioResampler(format="fltp")
            parts = [f.to_ndarray() for frame in container.decode(stream)
                     for f in to_float.resample(frame)]                # each (C, n)
            parts += [f.to_ndarray() for f in to_float.resample(None)]
            rate = stream.rate or stream.codec_context.sample_rate
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"cannot decode audio in {p}: {_one_line(err)}") from None
    if not parts:
        raise InputError(f"{p} contains no audio samples")
    return np.concatenate(parts, axis=1).T.astype(np.float32, copy=False), int(rate)


def save_wav(path: str | Path, x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float (S,) or (S, C) audio as 16-bit PCM WAV."""
    import soundfile as sf

    sf.write(str(path), to_int16(x), sample_rate, subtype="PCM_16")


# -- conversions -------------------------------------------------------------

def downmix(x: np.ndarray) -> np.ndarray:
    """(S, C) or (S,) -> mono float32 (S,) by averaging the channels."""
    x = np.asarray(x, dtype=np.float32)
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling of mono float audio (S,) -> (ceil(S * rate_out / rate_in),)."""
    _check_rate(rate_in, "input sample rate")
    _check_rate(rate_out, "output sample rate")
    x = np.asarray(x, dtype=np.float32)
    if rate_in == rate_out:
        return x
    g = gcd(rate_in, rate_out)
    y = resample_poly(x, rate_out // g, rate_in // g)
    return y.astype(np.float32, copy=False)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16, clipped and rounded (not truncated).

    Non-finite samples (a broken device or filter) become 0 / full scale rather
    than undefined integer casts.
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


def from_int16(x) -> np.ndarray:
    """int16 PCM (any buffer: ndarray, array.array, list) -> float32 in [-1, 1)."""
    return np.asarray(x, dtype=np.int16).astype(np.float32) / 32768.0


def to_float_audio(block: np.ndarray) -> np.ndarray:
    """Mono int16 or float samples, shape (S,) or (S, 1), as float32 in [-1, 1]."""
    arr = np.asarray(block)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"audio block must be mono (S,) or (S, 1), got shape {arr.shape}")
    if arr.dtype == np.int16:
        return from_int16(arr)
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(arr.astype(np.float32), -1.0, 1.0)
    raise InputError(f"audio block must be int16 or float, got {arr.dtype}")


def pcm16_to_mono(samples, sample_rate: int, channels: int) -> np.ndarray:
    """Interleaved int16 PCM with the given format -> mono float32 (S,) at its own rate.

    This is the validation every AudioChunk consumer needs: a zero rate, zero
    channels, an empty buffer or a length that is not a multiple of the channel
    count raise InputError instead of producing garbage.
    """
    if not 0 < sample_rate <= MAX_RATE:
        raise InputError(f"audio chunk with invalid sample_rate {sample_rate}")
    if channels < 1:
        raise InputError(f"audio chunk with invalid channel count {channels}")
    pcm = np.asarray(samples, dtype=np.int16)
    if pcm.size == 0:
        raise InputError("empty audio chunk")
    if pcm.size % channels:
        raise InputError(f"audio chunk of {pcm.size} samples is not a multiple of {channels} channels")
    return downmix(from_int16(pcm).reshape(-1, channels))


def iter_chunks(x: np.ndarray, size: int = CHUNK_SAMPLES, pad: bool = True) -> Iterator[np.ndarray]:
    """Consecutive chunks of ``size`` samples along axis 0; the last one zero-padded if ``pad``."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, not {size}")
    for start in range(0, len(x), size):
        chunk = x[start:start + size]
        if len(chunk) < size:
            if not pad:
                return
            chunk = np.concatenate([chunk, np.zeros((size - len(chunk),) + x.shape[1:], x.dtype)])
        yield chunk


# -- streaming ---------------------------------------------------------------

class Rechunker:
    """Collects arbitrary-length pieces and hands them out in fixed-size blocks."""

    def __init__(self, size: int, dtype=np.float32):
        self.size = size
        self._buf = np.zeros(0, dtype)

    @property
    def pending(self) -> int:
        return len(self._buf)

    def push(self, x: np.ndarray) -> list[np.ndarray]:
        self._buf = np.concatenate([self._buf, np.asarray(x, self._buf.dtype)])
        n = len(self._buf) // self.size
        blocks = [self._buf[i * self.size:(i + 1) * self.size] for i in range(n)]
        self._buf = self._buf[n * self.size:]
        return blocks

    def reset(self) -> None:
        self._buf = self._buf[:0]


class StreamResampler:
    """Stateful mono resampler for audio that arrives in pieces (mic blocks, chunks).

    Resampling each piece separately (resample_poly) would click at every piece
    boundary; libswresample (through PyAV) keeps the filter state between calls.
    Its delay is a few samples (16 at 48 -> 16 kHz). A change of input rate
    starts a fresh filter.
    """

    def __init__(self, rate_out: int = SAMPLE_RATE):
        _check_rate(rate_out, "output sample rate")
        self.rate_out = rate_out
        self._rate_in = 0
        self._swr = None

    def push(self, x: np.ndarray, rate_in: int) -> np.ndarray:
        """Mono float32 (S,) at ``rate_in`` -> mono float32 at ``rate_out`` (length varies by call)."""
        import av

        _check_rate(rate_in, "input sample rate")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if rate_in == self.rate_out:
            self._rate_in, self._swr = rate_in, None
            return x
        if rate_in != self._rate_in or self._swr is None:
            self._rate_in = rate_in
            self._swr = av.AudioResampler(format="flt", layout="mono", rate=self.rate_out)
        if x.size == 0:
            return x
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = rate_in
        out = [f.to_ndarray().ravel() for f in self._swr.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def reset(self) -> None:
        self._swr, self._rate_in = None, 0


def _check_rate(rate, what: str) -> None:
    if not isinstance(rate, (int, np.integer)) or not 0 < rate <= MAX_RATE:
        raise InputError(f"invalid {what}: {rate!r} (expected 1..{MAX_RATE} Hz)")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__

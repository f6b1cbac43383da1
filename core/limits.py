"""Bounds on what a node accepts from a topic (ROS-free), defined once for every node.

An AudioChunk is meant to be a few tens of milliseconds of audio. One chunk of ten
million samples (625 s) froze vad_state for ~10 s and pushed the frame generator's
stamps ahead of the clock, so every audio subscriber refuses chunks longer than
``max_chunk_s`` (a node parameter whose default is :data:`MAX_CHUNK_S`).
"""
from avatar.core.errors import InputError

# Default of every audio subscriber's ``max_chunk_s`` parameter: 50 standard 20 ms chunks.
MAX_CHUNK_S = 1.0
# The parameter's allowed range: at least one 20 ms chunk, at most a minute.
MAX_CHUNK_RANGE_S = (0.02, 60.0)


def chunk_duration_s(n_samples: int, sample_rate: int, channels: int) -> float:
    """Seconds of audio in an interleaved chunk; InputError for a rate or channel count < 1."""
    # Same wording as audio_io.pcm16_to_mono, which validates the rest once the length is known fine.
    if sample_rate <= 0:
        raise InputError(f"audio chunk with invalid sample_rate {sample_rate}")
    if channels <= 0:
        raise InputError(f"audio chunk with invalid channel count {channels}")
    return n_samples / (sample_rate * channels)


def check_chunk_length(n_samples: int, sample_rate: int, channels: int, max_s: float) -> float:
    """The chunk's duration in seconds; InputError (the chunk is dropped) if it exceeds ``max_s``.

    Checked on the sample count before any decoding, so a huge chunk costs nothing."""
    duration = chunk_duration_s(n_samples, sample_rate, channels)
    if duration > max_s:
        raise InputError(f"audio chunk of {duration:.2f} s ({n_samples} samples at {sample_rate} Hz x "
                         f"{channels}) is longer than max_chunk_s={max_s:g} s")
    return duration

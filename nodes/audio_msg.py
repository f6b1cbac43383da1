"""AudioChunk <-> numpy, shared by the audio nodes (header.stamp = time of the first sample)."""
import numpy as np
from builtin_interfaces.msg import Time

from avatar.core.audio_io import pcm16_to_mono
from avatar.core.audio_sources import Chunk
from avatar.msg import AudioChunk


def to_stamp(seconds: float) -> Time:
    ns = int(round(seconds * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def from_stamp(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def chunk_to_msg(chunk: Chunk, frame_id: str = "") -> AudioChunk:
    msg = AudioChunk(sample_rate=chunk.sample_rate, channels=1, samples=chunk.samples)
    msg.header.stamp = to_stamp(chunk.stamp)
    msg.header.frame_id = frame_id
    return msg


def msg_to_mono(msg: AudioChunk) -> tuple[np.ndarray, int, float]:
    """(mono float32 (S,), sample_rate, stamp in s); InputError for a malformed chunk."""
    mono = pcm16_to_mono(msg.samples, msg.sample_rate, msg.channels)
    return mono, msg.sample_rate, from_stamp(msg.header.stamp)

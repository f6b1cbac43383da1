"""Voices, speaking styles and 16 kHz utterances for the corpus.

A voice is an English dialect file plus a variant. Some variants are held out:
only the test split uses them, so test speech comes from voices that training
never heard. Train and val share the remaining voices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from avatar.core.timebase import SAMPLE_RATE

from .espeak import ESPEAK_SAMPLE_RATE, Espeak, SpeechParams, Voice

DIALECTS = ("gmw/en", "gmw/en-US", "gmw/en-GB-scotland", "gmw/en-GB-x-gbclan", "gmw/en-GB-x-rp",
            "gmw/en-GB-x-gbcwmd", "gmw/en-029", "gmw/en-US-nyc")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m5", "m7", "f1", "f2", "f5", "klatt", "klatt3", "Andy",
                  "Annie", "belinda", "edward", "linda", "max", "travis", "victor")
TEST_VARIANTS = ("m6", "f4", "steph", "david")


def voices_for_split(split: str) -> tuple[Voice, ...]:
    variants = TEST_VARIANTS if split == "test" else TRAIN_VARIANTS
    return tuple(Voice(d, v) for d in DIALECTS for v in variants)


def all_voices() -> tuple[Voice, ...]:
    return tuple(Voice(d, v) for d in DIALECTS for v in TRAIN_VARIANTS + TEST_VARIANTS)


@dataclass
class Utterance:
    """One sentence at 16 kHz with phoneme onsets (seconds from its first sample)."""
    text: str
    wave: np.ndarray                     # (S,) float32 in [-1, 1]
    phonemes: list[tuple[float, str]]
    params: SpeechParams

    @property
    def duration(self) -> float:
        return len(self.wave) / SAMPLE_RATE


def sample_params(rng: np.random.Generator, split: str) -> SpeechParams:
    voices = voices_for_split(split)
    return SpeechParams(
        voice=voices[rng.integers(len(voices))],
        rate=int(rng.integers(120, 261)),
        pitch=int(rng.integers(25, 76)),
        range=int(rng.integers(20, 91)),
    )


def to_16k(wave_22k: np.ndarray) -> np.ndarray:
    """int16 at 22050 Hz -> float32 at 16 kHz (16000/22050 = 320/441)."""
    x = wave_22k.astype(np.float32) / 32768.0
    y = resample_poly(x, SAMPLE_RATE // 50, ESPEAK_SAMPLE_RATE // 50).astype(np.float32)
    return np.clip(y, -1.0, 1.0)


def speak(text: str, params: SpeechParams, peak: float = 0.7) -> Utterance:
    speech = Espeak.instance().synth(text, params)
    wave = to_16k(speech.wave)
    top = float(np.abs(wave).max()) if wave.size else 0.0
    if top > 0:
        wave = wave * (peak / top)
    return Utterance(text=text, wave=wave.astype(np.float32), phonemes=speech.phonemes,
                     params=params)

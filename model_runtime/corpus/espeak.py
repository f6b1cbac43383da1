"""espeak-ng speech with phoneme timings, through ctypes on libespeak-ng.so.1.

Facts this relies on are in shared/reference/ESPEAK_PHONEMES.md: synchronous
output with a synth callback, PHONEME events (type 7) whose ``sample`` field is
the onset in samples at 22050 Hz, and a library that is one global,
non-thread-safe instance per process (so parallel rendering uses processes).

Voice selection: ``espeak_SetVoiceByName("<file identifier>+<variant>")``, e.g.
``gmw/en-US+f2``. Measured on espeak-ng 1.51 here: file identifiers always
resolve (the language name "en-gb" does not, pitfall 6), and only this form
applies named variants; ``SetVoiceByProperties`` reaches variants by number
only. The return code is checked on every call.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.core.errors import AvatarError

ESPEAK_SAMPLE_RATE = 22050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_END = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
MAX_RATE_WPM = 449  # at 450+ espeak time-compresses and events jitter by ±20 ms


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h (40 bytes on x86_64)."""
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union; phoneme mnemonic in id.string
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    identifier: str   # file under espeak-ng-data/voices, e.g. "gmw/en-US"
    variant: str      # file under voices/!v, e.g. "f2"

    @property
    def name(self) -> str:
        return f"{self.identifier}+{self.variant}"


@dataclass(frozen=True)
class SpeechParams:
    voice: Voice
    rate: int = 175    # words per minute, 80..449
    pitch: int = 50    # 0..100, relative to the voice's base
    range: int = 50    # 0..100, intonation range
    volume: int = 100


@dataclass
class Speech:
    """One synthesised utterance at 22050 Hz."""
    wave: np.ndarray                         # (S,) int16
    phonemes: list[tuple[float, str]]        # (onset seconds, mnemonic without stress marks)

    @property
    def duration(self) -> float:
        return len(self.wave) / ESPEAK_SAMPLE_RATE


def strip_stress(name: str) -> str:
    """espeak-ng 1.52 prefixes stress marks (e.g. ``'oU``); 1.51 does not."""
    return name.lstrip("'\u02c8\u02cc,%=")


class Espeak:
    """The process's espeak-ng instance.

    libespeak-ng keeps one global state per process, so this class hands out a
    single instance per process (``Espeak.instance()``) instead of pretending
    several independent ones could exist.
    """
    _process_instance: "Espeak | None" = None

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(path)
        except OSError as err:
            raise AvatarError(f"cannot load libespeak-ng ({err}); install espeak-ng") from err
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                           _INITIALIZE_PHONEME_EVENTS)
        if rate != ESPEAK_SAMPLE_RATE:
            raise AvatarError(f"espeak-ng initialisation failed (returned {rate})")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _Callback(self._on_synth)  # keep a reference: C holds only a pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._data = self._data_path()
        self._checked: set[Voice] = set()

    def _data_path(self) -> Path:
        path = ctypes.c_char_p()
        self._lib.espeak_Info.restype = ctypes.c_char_p
        self._lib.espeak_Info(ctypes.byref(path))
        return Path(path.value.decode()) if path.value else Path("/nonexistent")

    def _check_voice(self, voice: Voice) -> None:
        """espeak-ng ignores an unknown variant silently; refuse it instead."""
        if voice in self._checked:
            return
        if not (self._data / "voices" / "!v" / voice.variant).is_file():
            raise AvatarError(f"espeak-ng voice variant {voice.variant!r} not found in {self._data}")
        self._checked.add(voice)

    @classmethod
    def instance(cls) -> "Espeak":
        if cls._process_instance is None:
            cls._process_instance = cls()
        return cls._process_instance

    def _on_synth(self, wav, n_samples, events) -> int:
        if wav and n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_END:
            if events[i].type == _EVENT_PHONEME:
                name = events[i].id.split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append((events[i].sample, strip_stress(name)))
            i += 1
        return 0

    def synth(self, text: str, params: SpeechParams) -> Speech:
        if not 80 <= params.rate <= MAX_RATE_WPM:
            raise AvatarError(f"speech rate {params.rate} wpm outside 80..{MAX_RATE_WPM}")
        self._check_voice(params.voice)
        err = self._lib.espeak_SetVoiceByName(params.voice.name.encode())
        if err != 0:
            raise AvatarError(f"espeak-ng voice {params.voice.name!r} not found")
        # Rate and pitch persist across voice changes (pitfall 5): set all every call.
        for key, value in ((_PARAM_RATE, params.rate), (_PARAM_PITCH, params.pitch),
                           (_PARAM_RANGE, params.range), (_PARAM_VOLUME, params.volume)):
            self._lib.espeak_SetParameter(key, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        wave = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        phonemes = [(s / ESPEAK_SAMPLE_RATE, p) for s, p in self._events if p]
        return Speech(wave=wave.astype(np.int16), phonemes=phonemes)

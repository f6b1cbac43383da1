"""Two-channel test dialogues with known turn times, and scoring of state tracks.

The dialogues are synthesised with the espeak-ng command line (different voices
for the avatar and the user), so tests and ``scripts/bench_vad.py`` measure the
VAD on real speech audio with exact ground truth. Each utterance is trimmed to
its audible extent (-40 dB), so a turn's ground truth is exactly where it was
placed; pauses inside an utterance belong to the turn.
"""
import io
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from avatar.core.audio_io import SAMPLE_RATE, downmix, resample
from avatar.core.errors import AvatarError
from avatar.core.state_machine import State, combine
from avatar.core.timebase import FRAME_S

SENTENCES = (
    "Hello, and welcome. How can I help you today?",
    "I would like to know where the library is.",
    "The library is on the second floor, next to the cafe.",
    "Thank you. Is it open on Sunday?",
    "Yes, it opens at ten in the morning and closes at six.",
    "Great. Can I borrow books without a card?",
    "You need a card, but you can get one at the front desk in five minutes.",
    "Perfect, that sounds easy enough.",
    "Is there anything else I can do for you?",
    "Actually, yes. Where can I find a quiet room to study?",
    "There are study rooms on the third floor. Some of them have whiteboards.",
    "Do I have to book them in advance?",
    "It is a good idea on weekdays, because they are popular with students.",
    "Okay. I think that is everything for now.",
    "Have a nice day, and enjoy your visit.",
    "Wait, one more thing. Is there parking nearby?",
    "The parking garage is behind the building, and the first hour is free.",
    "Wonderful, thanks again for your help.",
)
AVATAR_VOICES = (("en-us", 165, 45), ("en-us+m3", 175, 40))      # (voice, words/min, pitch)
USER_VOICES = (("en-gb+Annie", 170, 70), ("en-gb-scotland+Andrea", 160, 65))


@dataclass
class Dialogue:
    speech: np.ndarray                     # (S,) float32, the avatar's voice
    user: np.ndarray                       # (S,) float32, the user's voice
    speech_turns: list[tuple[float, float]]
    user_turns: list[tuple[float, float]]

    @property
    def duration(self) -> float:
        return len(self.speech) / SAMPLE_RATE


def espeak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng through its CLI -> float32 (S,) at 16 kHz."""
    try:
        out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                             check=True, capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise AvatarError(f"espeak-ng failed: {err}") from None
    x, rate = sf.read(io.BytesIO(out), dtype="float32", always_2d=True)
    return resample(downmix(x), rate, SAMPLE_RATE)


def trim(x: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """Cut leading and trailing parts whose 10 ms RMS is ``floor_db`` below the peak RMS."""
    n = SAMPLE_RATE // 100
    rms = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(n) / n, mode="same"))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (floor_db / 20))
    return x[loud[0]:loud[-1] + 1]


def build_dialogue(seed: int, n_turns: int = 10, barge_in_prob: float = 0.15) -> Dialogue:
    """Alternating avatar/user turns with 0.3-1.5 s silences; some user turns barge in."""
    rng = np.random.default_rng(seed)
    clips: list[tuple[str, float, np.ndarray]] = []
    t = float(rng.uniform(0.6, 1.2))
    prev_end = 0.0
    for i in range(n_turns):
        channel = "speech" if i % 2 == 0 else "user"
        voices = AVATAR_VOICES if channel == "speech" else USER_VOICES
        voice, speed, pitch = voices[int(rng.integers(len(voices)))]
        x = trim(espeak(SENTENCES[int(rng.integers(len(SENTENCES)))], voice, speed, pitch))
        if channel == "user" and i > 0 and rng.random() < barge_in_prob:
            t = prev_end - float(rng.uniform(0.4, 0.8))      # the user interrupts
        clips.append((channel, t, x))
        prev_end = t + len(x) / SAMPLE_RATE
        t = prev_end + float(rng.uniform(0.3, 1.5))
    total = int((prev_end + rng.uniform(0.8, 1.2)) * SAMPLE_RATE)
    tracks = {"speech": np.zeros(total, np.float32), "user": np.zeros(total, np.float32)}
    turns: dict[str, list] = {"speech": [], "user": []}
    for channel, start, x in clips:
        i = int(round(start * SAMPLE_RATE))
        tracks[channel][i:i + len(x)] += x
        turns[channel].append((i / SAMPLE_RATE, (i + len(x)) / SAMPLE_RATE))
    return Dialogue(tracks["speech"], tracks["user"], turns["speech"], turns["user"])


def add_noise(x: np.ndarray, turns: list[tuple[float, float]], snr_db: float, kind: str,
              rng: np.random.Generator) -> np.ndarray:
    """``x`` plus stationary white or pink noise, ``snr_db`` below the speech power inside ``turns``."""
    active = np.concatenate([x[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for a, b in turns])
    noise = rng.standard_normal(len(x))
    if kind == "pink":
        # 1/f power: scale the spectrum by 1/sqrt(f) (DC left out).
        spec = np.fft.rfft(noise)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        noise = np.fft.irfft(spec / np.sqrt(f), n=len(x))
    elif kind != "white":
        raise ValueError(f"noise kind must be white or pink, not {kind!r}")
    gain = np.sqrt(np.mean(active.astype(np.float64) ** 2) / 10 ** (snr_db / 10) / np.mean(noise ** 2))
    return (x + gain * noise).astype(np.float32)


def frame_truth(d: Dialogue, frame_s: float = FRAME_S, barge_in: str = "speaking") -> np.ndarray:
    """Ground-truth state (int) at the centre of every ``frame_s`` frame."""
    n = int(d.duration / frame_s)
    centres = (np.arange(n) + 0.5) * frame_s
    inside = lambda turns, t: any(a <= t < b for a, b in turns)   # noqa: E731
    return np.array([combine(inside(d.speech_turns, t), inside(d.user_turns, t), barge_in)
                     for t in centres], np.int64)


def onset_latencies(turns: list[tuple[float, float]], track_t: np.ndarray, track_state: np.ndarray,
                    state: State, truth_at) -> list[float]:
    """Seconds from each turn's start until ``track`` first shows ``state`` (inf if never).

    Only turns where the true state actually changes to ``state`` count (an
    interruption under the other barge-in rule is not an onset). ``track_t`` are
    the times at which ``track_state`` became known.
    """
    out = []
    for a, b in turns:
        if truth_at(a + 0.01) != state or truth_at(a - 0.05) == state:
            continue
        hit = np.flatnonzero((track_t >= a - 0.1) & (track_state == state))
        out.append(float(track_t[hit[0]] - a) if len(hit) and track_t[hit[0]] <= b + 1.0 else float("inf"))
    return out


def offset_latencies(turns: list[tuple[float, float]], track_t: np.ndarray, track_state: np.ndarray,
                     state: State, truth_at) -> list[float]:
    """Seconds from each turn's end until ``track`` stops showing ``state``."""
    out = []
    for a, b in turns:
        if truth_at(b - 0.01) != state or truth_at(b + 0.05) == state:
            continue
        hit = np.flatnonzero((track_t >= b - 0.1) & (track_state != state))
        out.append(float(track_t[hit[0]] - b) if len(hit) else float("inf"))
    return out

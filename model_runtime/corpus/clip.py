"""One corpus clip: a conversation timeline, its audio, behaviour and frames.

A clip of 8-12 s alternates speaking (the avatar's sentences), listening (the
user's sentences in another voice) and idle gaps. Everything is drawn from
one seeded generator, so a clip is a pure function of its ClipSpec.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from avatar.core.state_machine import State
from avatar.core.timebase import FPS
from avatar.core.timebase import SAMPLES_PER_FRAME as HOP

from . import behaviour, sentences, speech
from .identity import Identity
from .render import FaceRenderer
from .visemes import mouth_tracks
from .writer import write_json, write_video, write_wav

# next-state choice after (None = clip start, idle, listening, speaking)
_NEXT = {None: (0.3, 0.3, 0.4), 0: (0.0, 0.4, 0.6), 1: (0.3, 0.0, 0.7), 2: (0.55, 0.45, 0.0)}


@dataclass(frozen=True)
class ClipSpec:
    clip_id: str
    split: str
    identity: Identity
    entropy: tuple[int, ...]      # SeedSequence entropy: (corpus seed, stream, clip index)
    duration: float
    size: int
    out_dir: str
    motion_only: bool = False     # no video: audio and ground truth only (the motion corpus)


@dataclass
class Timeline:
    segments: list[tuple[float, float, int]]           # (start s, end s, state)
    avatar: list[tuple[int, speech.Utterance]]         # (offset in samples, utterance)
    user: list[tuple[int, speech.Utterance]]


def plan_timeline(rng: np.random.Generator, n_samples: int, split: str) -> Timeline:
    """Turn-taking schedule that fits ``n_samples``; always has some speaking."""
    sr = speech.SAMPLE_RATE
    avatar_params = speech.sample_params(rng, split)
    user_params = speech.sample_params(rng, split)
    for _ in range(20):
        tl = Timeline([], [], [])
        pos, prev = 0, None
        while pos < n_samples - int(0.3 * sr):
            state = int(rng.choice(3, p=_NEXT[prev]))
            if state == State.IDLE:
                length = int(rng.uniform(0.4, 2.0) * sr)
            else:
                params = avatar_params if state == State.SPEAKING else user_params
                params = replace(params, rate=int(np.clip(params.rate * rng.uniform(0.9, 1.1),
                                                          80, 449)))
                utt = speech.speak(sentences.generate_for_split(rng, split), params,
                                   peak=float(rng.uniform(0.4, 0.9)))
                length = len(utt.wave)
                if pos + length > n_samples:
                    break
                (tl.avatar if state == State.SPEAKING else tl.user).append((pos, utt))
            length = min(length, n_samples - pos)
            tl.segments.append((pos / sr, (pos + length) / sr, state))
            pos, prev = pos + length, state
        if pos < n_samples:
            tl.segments.append((pos / sr, n_samples / sr, State.IDLE))
        if tl.avatar:
            return tl
    raise RuntimeError("could not plan a clip with speech")


def _merge_segments(segments) -> list[tuple[float, float, int]]:
    out: list[list] = []
    for start, end, state in segments:
        if out and out[-1][2] == state:
            out[-1][1] = end
        else:
            out.append([start, end, state])
    return [tuple(s) for s in out]


def _track(items: list[tuple[int, speech.Utterance]], n_samples: int) -> np.ndarray:
    wave = np.zeros(n_samples, np.float32)
    for pos, utt in items:
        wave[pos:pos + len(utt.wave)] = utt.wave
    return wave


def frame_states(segments, n_frames: int) -> np.ndarray:
    """(T,) state at each frame's centre time."""
    centres = (np.arange(n_frames) + 0.5) / FPS
    state = np.zeros(n_frames, np.int64)
    for start, end, s in segments:
        state[(centres >= start) & (centres < end)] = s
    return state


@dataclass
class SimulatedClip:
    """Everything a clip is before drawing: audio, timeline and per-frame ground truth."""
    timeline: Timeline
    segments: list[tuple[float, float, int]]
    speech: np.ndarray                  # (T*HOP,) float32, the avatar's voice
    user: np.ndarray                    # (T*HOP,) float32, the other person's voice
    rounding: np.ndarray                # (T,) viseme lip rounding 0..1, zero outside speaking
    face_states: list
    frames_gt: dict


def simulate_clip(spec: ClipSpec) -> SimulatedClip:
    """Plan, speak and compose one clip from its seed (no drawing)."""
    rng = np.random.default_rng(np.random.SeedSequence(list(spec.entropy)))
    n_frames = int(round(spec.duration * FPS))
    n_samples = n_frames * HOP
    tl = plan_timeline(rng, n_samples, spec.split)
    segments = _merge_segments(tl.segments)
    speech_wave, user_wave = _track(tl.avatar, n_samples), _track(tl.user, n_samples)
    sr = speech.SAMPLE_RATE
    mouth = mouth_tracks([(pos / sr, u.phonemes, u.duration) for pos, u in tl.avatar], n_frames, FPS)
    state = frame_states(segments, n_frames)
    expr = behaviour.expression_track(rng, n_frames, FPS)
    face_states, frames_gt = behaviour.compose(rng, state, mouth, expr, speech_wave, FPS)
    rounding = (mouth["rounding"] * (state == State.SPEAKING)).astype(np.float32)
    return SimulatedClip(tl, segments, speech_wave, user_wave, rounding, face_states, frames_gt)


def _gt_json(spec: ClipSpec, sim: SimulatedClip, n_frames: int) -> dict:
    sr = speech.SAMPLE_RATE
    tl = sim.timeline
    voice = lambda p: {"voice": p.voice.name, "rate": p.rate, "pitch": p.pitch,  # noqa: E731
                       "range": p.range}
    return {
        "identity": spec.identity.name, "fps": FPS, "n_frames": n_frames, "split": spec.split,
        "sentences": [u.text for _, u in tl.avatar],
        "user_sentences": [u.text for _, u in tl.user],
        "segments": [{"start": round(a, 4), "end": round(b, 4), "state": State(s).label}
                     for a, b, s in sim.segments],
        "voices": {"speech": [voice(u.params) for _, u in tl.avatar],
                   "user": [voice(u.params) for _, u in tl.user]},
        "phonemes": [[round(pos / sr + t, 4), p] for pos, u in tl.avatar for t, p in u.phonemes],
        "frames": sim.frames_gt,
    }


def render_clip(spec: ClipSpec) -> dict:
    """Render and write one clip; returns its render stats. With ``spec.motion_only`` no video
    is drawn: gt.json also gets ``viseme_rounding`` (T,), which the motion corpus needs."""
    t0 = time.perf_counter()
    sim = simulate_clip(spec)
    t1 = time.perf_counter()
    n_frames = len(sim.face_states)
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if spec.motion_only:
        written = n_frames
    else:
        renderer = FaceRenderer(spec.identity, spec.size)
        written = write_video(out / "video.mp4", (renderer.render(s) for s in sim.face_states), FPS)
    sr = speech.SAMPLE_RATE
    write_wav(out / "speech.wav", sim.speech, sr)
    write_wav(out / "user.wav", sim.user, sr)
    gt = _gt_json(spec, sim, written)
    if spec.motion_only:
        gt["viseme_rounding"] = [round(float(v), 4) for v in sim.rounding]
    write_json(out / "gt.json", gt)
    return {"clip": spec.clip_id, "frames": written, "seconds": len(sim.speech) / sr,
            "plan_s": t1 - t0, "total_s": time.perf_counter() - t0}

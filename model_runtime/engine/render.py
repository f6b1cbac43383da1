"""Offline rendering: the streaming engine fed with a whole recording, written to MP4.

The same engine as the live node (no second pipeline): all audio is written up
front and the input is closed, so clips are planned as soon as the stages have
room, and the output depends only on the inputs and the seed.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from avatar.core.expression_track import per_frame
from avatar.core.media import Mp4Writer
from avatar.core.state_machine import State
from avatar.core.states import frames_from_segments, recording_states
from avatar.core.vad import VadConfig
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.engine.streaming import EngineConfig, StreamingEngine
from avatar.model_runtime.engine.timeline import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME


@dataclass(frozen=True)
class RenderJob:
    image: np.ndarray                       # (H, W, 3) uint8 RGB portrait
    speech: np.ndarray                      # (S,) float32, 16 kHz: the avatar's voice
    user: np.ndarray | None = None          # (S,) float32, 16 kHz: the other person's voice
    states: str = "auto"                    # auto | speaking | listening | idle
    expression: np.ndarray | tuple | None = None   # (10,) constant, or (times (K,), vectors (K, 10)) keyframes
    steps: int = PlannerConfig.steps
    seed: int = 0
    clip: int = PlannerConfig.clip            # offline: the planner's throughput default (live: LIVE_CLIP)
    max_side: int = 1024                    # output frames: the whole portrait, downscaled to this
    motion: np.ndarray | None = None        # (T, DIM) face motion to draw instead of generating it
    framing: str = "face"                   # face: find and paste back the face; whole: image = crop


@dataclass
class RenderStats:
    frames: int = 0
    seconds: float = 0.0
    states: dict = field(default_factory=dict)
    motion: np.ndarray | None = None        # (T, DIM) the face motion drawn

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def frame_states(job: RenderJob, n_frames: int) -> np.ndarray:
    """(n_frames,) state label per frame: from the two channels' VAD, or fixed."""
    if job.states != "auto":
        return np.full(n_frames, State[job.states.upper()], np.int64)
    segments = recording_states(job.speech, job.user, VadConfig())
    return frames_from_segments(segments, n_frames)


def offline_engine(renderer, motion, image: np.ndarray, speech: np.ndarray, n_frames: int, states: np.ndarray,
                   expressions: np.ndarray | None, steps: int, seed: int, clip: int, max_side: int = 1024,
                   motion_track: np.ndarray | None = None, framing: str = "face",
                   portraits=None) -> StreamingEngine:
    """An engine with everything known up front: audio for ``n_frames`` (padded with silence),
    per-frame states (n_frames,) and, optionally, per-frame expression vectors (n_frames, 10)
    and a face-motion track (T, DIM) to draw instead of generated motion."""
    cfg = EngineConfig(planner=PlannerConfig(steps=steps, min_steps=min(steps, 1), clip=clip), seed=seed,
                       max_side=max_side, framing=framing)
    engine = StreamingEngine(renderer, motion, image, cfg, portraits=portraits, motion_track=motion_track)
    audio = np.zeros(n_frames * SAMPLES_PER_FRAME, np.float32)
    audio[:min(len(speech), audio.size)] = speech[:audio.size]
    engine.write_audio(audio, 0)
    for f in np.flatnonzero(np.diff(states, prepend=-1)):
        engine.set_state(int(f), int(states[f]))
    if expressions is not None:
        changed = np.flatnonzero(np.any(np.diff(expressions, axis=0, prepend=np.nan) != 0, axis=1))
        for f in changed:
            engine.set_expression(int(f), expressions[f])
    engine.close_audio()
    return engine


def render_frames(engine: StreamingEngine) -> np.ndarray:
    """Run an offline engine to the end: (T, H, W, 3) uint8 RGB."""
    engine.start()
    try:
        return np.stack([frame.rgb for frame in engine.frames()])
    finally:
        engine.stop()


def render_to_file(renderer, motion, job: RenderJob, out: Path, progress: bool = False,
                   portraits=None) -> RenderStats:
    """Render ``job`` to ``out`` (MP4); the stats carry the face motion drawn, (T, DIM). ``portraits``:
    a PortraitCache that may already hold the job's portrait (analysed once)."""
    n_frames = -(-max(len(job.speech), 0 if job.user is None else len(job.user)) // SAMPLES_PER_FRAME)
    if job.motion is not None:
        n_frames = max(n_frames, len(job.motion))
    states = frame_states(job, n_frames)
    if job.expression is None:
        expressions = None
    elif isinstance(job.expression, tuple):
        expressions = per_frame(*job.expression, n_frames)
    else:
        expressions = np.tile(job.expression, (n_frames, 1))
    engine = offline_engine(renderer, motion, job.image, job.speech, n_frames, states, expressions, job.steps,
                            job.seed, job.clip, job.max_side, job.motion, job.framing, portraits)
    stats = RenderStats(states={s.label: int((states == s).sum()) for s in State})
    height, width = engine.frame_shape
    motions = []
    t0 = time.perf_counter()
    with Mp4Writer(str(out), width, height, fps=FPS, sample_rate=SAMPLE_RATE) as writer, \
            tqdm(total=n_frames, unit="frame", disable=not progress, desc="render") as bar:
        engine.start()
        try:
            for frame in engine.frames():
                writer.write_frame(frame.rgb)
                # Interleave: each frame's own audio follows it (the muxer buffers less).
                chunk = job.speech[frame.index * SAMPLES_PER_FRAME:(frame.index + 1) * SAMPLES_PER_FRAME]
                writer.write_audio(np.pad(chunk, (0, SAMPLES_PER_FRAME - len(chunk))))
                motions.append(frame.motion)
                stats.frames += 1
                bar.update(1)
        finally:
            engine.stop()
    stats.seconds = time.perf_counter() - t0
    stats.motion = np.stack(motions) if motions else np.zeros((0, 0), np.float32)
    return stats

"""Offline rendering: the streaming engine fed with a whole recording, written to MP4.

The same engine and stages as the live node (no second pipeline), through its
offline entry point ``StreamingEngine.render`` (set up in offline.py): per-frame
arrays (FrameInputs) go straight into clips, planned as soon as the stages have
room, and the output depends only on the inputs and the seed.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from avatar.core.expression_track import per_frame
from avatar.core.state_machine import State
from avatar.core.states import frames_from_segments, recording_states
from avatar.core.vad import VadConfig
from avatar.core.video_io import Mp4Writer
from avatar.model_runtime.engine.offline import offline_engine
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.engine.timeline import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, FrameInputs


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


def job_inputs(job: RenderJob) -> FrameInputs:
    """The job's per-frame arrays: frames for the longer voice (or the motion track), states from the
    VAD or fixed, expressions constant or interpolated between keyframes."""
    n_frames = -(-max(len(job.speech), 0 if job.user is None else len(job.user)) // SAMPLES_PER_FRAME)
    if job.motion is not None:
        n_frames = max(n_frames, len(job.motion))
    if job.expression is None:
        expressions = None
    elif isinstance(job.expression, tuple):
        expressions = per_frame(*job.expression, n_frames)
    else:
        expressions = np.tile(job.expression, (n_frames, 1))
    return FrameInputs.of(job.speech, n_frames, frame_states(job, n_frames), expressions, job.motion)


def render_to_file(renderer, motion, job: RenderJob, out: Path, progress: bool = False,
                   portraits=None) -> RenderStats:
    """Render ``job`` to ``out`` (MP4); the stats carry the face motion drawn, (T, DIM). ``portraits``:
    a PortraitCache that may already hold the job's portrait (analysed once)."""
    inputs = job_inputs(job)
    engine = offline_engine(renderer, motion, job.image, job.steps, job.seed, job.clip, job.max_side, job.framing,
                            portraits)
    stats = RenderStats(states={s.label: int((inputs.states == s).sum()) for s in State})
    height, width = engine.frame_shape
    motions = []
    t0 = time.perf_counter()
    with Mp4Writer(str(out), width, height, fps=FPS, sample_rate=SAMPLE_RATE) as writer, \
            tqdm(total=inputs.n_frames, unit="frame", disable=not progress, desc="render") as bar:
        for frame in engine.render(inputs):
            writer.write_frame(frame.rgb)
            # Interleave: each frame's own audio, as the engine heard it, follows it (the muxer buffers less).
            writer.write_audio(inputs.audio[frame.index * SAMPLES_PER_FRAME:(frame.index + 1) * SAMPLES_PER_FRAME])
            motions.append(frame.motion)
            stats.frames += 1
            bar.update(1)
    stats.seconds = time.perf_counter() - t0
    stats.motion = np.stack(motions) if motions else np.zeros((0, 0), np.float32)
    return stats

"""The streaming engine: audio-clocked clips through features -> denoise -> decode -> paste.

One engine serves both the live node (audio arrives in chunks, the wall clock
runs) and offline rendering (all audio up front): the only difference is the
clock that decides when a clip's audio is complete. See planner.py for clip
lengths and degradation, stage.py for the pipeline.

What draws the face is a renderer (model_runtime/renderers, one protocol); what
moves it is a motion source (the motion generator, or the explicit controls).
Each clip's face motion is made in the denoise stage, the renderer draws the
aligned crop, and the paste stage puts it back into the whole portrait.
"""
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from avatar.core.state_machine import State
from avatar.model_runtime.engine.executors import cuda_stages
from avatar.model_runtime.engine.motion_source import MotionSource
from avatar.model_runtime.engine.planner import ClipPlan, ClipPlanner, PlannerConfig
from avatar.model_runtime.engine.stage import Pipeline, PipelineError
from avatar.model_runtime.engine.timeline import (SAMPLES_PER_FRAME, SAMPLE_RATE, AudioTimeline, StepTrack,
                                                   neutral_expression)
from avatar.model_runtime.engine.whole_frame import WholeFrames
from avatar.model_runtime.portrait import PortraitCache
from avatar.model_runtime.renderers import FRAMINGS
from avatar.model_runtime.renderers.base import ClipInputs, Renderer


@dataclass(frozen=True)
class EngineConfig:
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    depth: int = 2                 # clips queued between stages
    seed: int = 0
    live: bool = False             # True: the wall clock completes audio; False: only audio/close does
    max_side: int = 1024           # output frames: the whole portrait, downscaled to this
    framing: str = "face"          # FRAMINGS: face = find, crop and paste back the face; whole = the image is
                                   # the crop (whole_frame.py)

    def __post_init__(self):
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {self.framing!r}")


@dataclass
class Frame:
    index: int                     # frame n shows audio [n/25, (n+1)/25) s of the stream
    rgb: np.ndarray                # (H, W, 3) uint8: the whole portrait
    motion: np.ndarray             # (face_motion.DIM,) float32: what the face does in this frame
    state: int
    clip: int
    steps: int
    degraded: bool
    done_at: float                 # time.monotonic() when the frame left the last stage


@dataclass
class PreparedFace:
    """A portrait made ready once: its analysis, aligned crop and the renderer's own cache."""
    portrait: Any                  # portrait.Portrait
    aligned: Any                   # portrait.AlignedFace at the renderer's size and framing
    prepared: Any                  # whatever renderer.prepare returned


@dataclass
class _Job:
    clip: int
    plan: ClipPlan
    face: PreparedFace
    wave: torch.Tensor             # (1, S) context + clip + look-ahead audio
    states: torch.Tensor           # (1, n) long
    expression: torch.Tensor       # (1, n, 10)
    motion_tokens: torch.Tensor | None = None    # (1, n, D) for the motion source
    render_tokens: torch.Tensor | None = None    # (1, n, D) for the renderer
    motion: np.ndarray | None = None             # (n, DIM)
    out: Any = None                              # the renderer's denoise output
    crops: np.ndarray | None = None              # (n, S, S, 3) uint8
    rgb: np.ndarray | None = None                # (n, H, W, 3) uint8
    cuda_event: object = None                    # set by the CUDA executor


class StreamingEngine:
    def __init__(self, renderer: Renderer, motion: MotionSource, portrait_image: np.ndarray,
                 config: EngineConfig = EngineConfig(), portraits: PortraitCache | None = None,
                 motion_track: np.ndarray | None = None):
        """``motion_track`` (T, DIM): offline, draw this motion instead of generating it."""
        self.renderer, self.motion, self.config = renderer, motion, config
        if portraits is None:
            portraits = WholeFrames() if config.framing == "whole" else PortraitCache(config.max_side)
        self.portraits = portraits
        self.motion_track = motion_track
        self.audio = AudioTimeline()
        self.states = StepTrack(State.IDLE)
        self.expressions = StepTrack(neutral_expression())
        self.planner = ClipPlanner(config.planner)
        self._face = self.prepare_face(portrait_image)
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._carry: Any = None
        self._history: np.ndarray | None = None
        self._last_face: PreparedFace | None = None
        self._last_rgb: np.ndarray | None = None
        self._planned_state = State.IDLE
        sources = (renderer, motion)
        self._context = max(s.audio_context_frames for s in sources)
        self._lookahead = max(_samples(s.audio_lookahead_ms) for s in sources)
        self.origin = time.monotonic()
        self.pipeline: Pipeline | None = None
        self._driver: threading.Thread | None = None

    @property
    def audio_lookahead_ms(self) -> float:
        return self._lookahead * 1000 / SAMPLE_RATE

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(H, W) of the output frames."""
        return self._face.portrait.image.shape[:2]

    def prepare_face(self, image: np.ndarray) -> PreparedFace:
        """Analyse (cached), crop and prepare a portrait; InputError if it has no usable face."""
        portrait = self.portraits.get(image)
        aligned = portrait.align(size=self.renderer.size, framing=self.renderer.framing)
        return PreparedFace(portrait, aligned, self.renderer.prepare(aligned.crop, aligned))

    # --- inputs (any thread) ------------------------------------------------------------
    def write_audio(self, samples: np.ndarray, start_sample: int) -> None:
        self.audio.write(samples, start_sample)
        with self._cv:
            self._cv.notify_all()

    def close_audio(self) -> None:
        """Offline: no more audio; the stream ends with the last frame that has audio."""
        self.audio.closed = True
        with self._cv:
            self._cv.notify_all()

    def set_state(self, frame: int, state: int) -> None:
        self.states.set(frame, int(state))
        with self._cv:
            self._cv.notify_all()

    def set_expression(self, frame: int, vector: np.ndarray) -> None:
        self.expressions.set(frame, np.asarray(vector, np.float32))

    def set_reference(self, image: np.ndarray) -> None:
        """New portrait: analysed and prepared once (InputError if unusable, the old one stays);
        the next clip starts fresh."""
        self.set_face(self.prepare_face(image))

    def set_face(self, face: PreparedFace) -> None:
        """Switch to a face made by ``prepare_face`` (e.g. checked before a parameter change)."""
        with self._cv:
            self._face = face
            self.planner.restart()

    def clock_sample(self) -> int:
        """Live audio position (samples since ``origin``)."""
        return int((time.monotonic() - self.origin) * SAMPLE_RATE)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.origin = time.monotonic()
        stages = [("features", self._features), ("denoise", self._denoise), ("decode", self._decode),
                  ("paste", self._paste)]
        device = getattr(self.renderer, "device", torch.device("cpu"))
        if device.type == "cuda":      # on the CPU the stages run as they are, one thread each
            stages = cuda_stages(stages, device)
        self.pipeline = Pipeline(stages, depth=self.config.depth)
        self._driver = threading.Thread(target=self._drive, name="engine-driver", daemon=True)
        self._driver.start()

    def frames(self) -> Iterator[Frame]:
        """Frames in order; ends after close_audio() once everything is generated."""
        try:
            for job in self.pipeline.results():
                yield from self._emit(job)
        except PipelineError:
            if not self._stop.is_set():
                raise            # a stage failed; after stop() the end is expected

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self.pipeline is not None:
            self.pipeline.shutdown()
        if self._driver is not None:
            self._driver.join(timeout=5)

    # --- driver: plans clips against the audio clock ------------------------------------
    def _drive(self) -> None:
        next_frame, clip = 0, 0
        try:
            while not self._stop.is_set():
                plan = self._wait_for_clip(next_frame)
                if plan is None:
                    break
                try:
                    self.pipeline.submit(self._make_job(clip, plan))
                except PipelineError:
                    if self._stop.is_set():
                        return          # stopped while waiting for room: a normal end
                    raise
                next_frame, clip = plan.start + plan.n, clip + 1
                keep_from = (next_frame - self._context - 2) * SAMPLES_PER_FRAME
                self.audio.trim(keep_from)
                self.states.forget_before(next_frame)
                self.expressions.forget_before(next_frame)
        finally:
            if self.pipeline is not None:
                self.pipeline.close()

    def _end_sample(self, plan: ClipPlan) -> int:
        return (plan.start + plan.n) * SAMPLES_PER_FRAME + self._lookahead

    def _wait_for_clip(self, next_frame: int) -> ClipPlan | None:
        """Block until the next clip's audio is complete; None when the stream has ended."""
        with self._cv:
            while not self._stop.is_set():
                if self.audio.closed and next_frame * SAMPLES_PER_FRAME >= self.audio.written_until:
                    return None
                lag_ms = 0.0
                if self.config.live:
                    first_end = (next_frame + 1) * SAMPLES_PER_FRAME + self._lookahead
                    lag_ms = max(0.0, (self.clock_sample() - first_end) * 1000 / SAMPLE_RATE)
                switch = self.states.next_change_after(next_frame)
                if switch is not None and switch <= next_frame + 1:
                    switch = None
                state = self.states.at(next_frame)
                if state != self._planned_state:
                    self.planner.restart()
                plan = self.planner.plan(next_frame, switch, lag_ms)
                end = self._end_sample(plan)
                available = self.audio.written_until
                if self.config.live:
                    # The clock completes silence; audio that arrived early counts only up to the
                    # look-ahead past the clock, so no frame is made (and stamped) ahead of it.
                    clock = self.clock_sample()
                    available = min(max(available, clock), clock + self._lookahead)
                if available >= end or self.audio.closed:
                    if self.audio.closed:     # the stream ends with the last frame that has audio
                        total = -(-self.audio.written_until // SAMPLES_PER_FRAME)
                        plan = replace(plan, n=min(plan.n, total - plan.start))
                    self.planner.commit(plan, switch)
                    self._planned_state = state
                    return plan
                wait_s = (end - available) / SAMPLE_RATE if self.config.live else None
                self._cv.wait(timeout=wait_s)
        return None

    def _make_job(self, clip: int, plan: ClipPlan) -> _Job:
        lo = (plan.start - self._context) * SAMPLES_PER_FRAME
        wave = self.audio.read(lo, self._end_sample(plan))
        states = torch.tensor(self.states.span(plan.start, plan.n), dtype=torch.long)[None]
        expr = torch.from_numpy(np.stack(self.expressions.span(plan.start, plan.n)))[None]
        return _Job(clip=clip, plan=plan, face=self._face, wave=torch.from_numpy(wave)[None], states=states,
                    expression=expr)

    # --- stages -------------------------------------------------------------------------
    def _tokens(self, source, job: _Job) -> torch.Tensor | None:
        """``source``'s tokens for the clip's frames, from its own share of the audio window."""
        ctx, extra = source.audio_context_frames, self._lookahead - _samples(source.audio_lookahead_ms)
        wave = job.wave[:, (self._context - ctx) * SAMPLES_PER_FRAME:job.wave.shape[1] - extra]
        tokens = source.features(wave, ctx + job.plan.n)                       # (1, ctx+n, D) or None
        return None if tokens is None else tokens[:, ctx:]

    def _features(self, job: _Job) -> _Job:
        if self.motion_track is None:
            job.motion_tokens = self._tokens(self.motion, job)
        job.render_tokens = self._tokens(self.renderer, job)
        return job

    def _denoise(self, job: _Job) -> _Job:
        if job.face is not self._last_face:
            self._carry, self._history, self._last_face = None, None, job.face   # new portrait: no carry-over
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + job.clip)
        job.motion = self._clip_motion(job, gen)
        inputs = ClipInputs(motion=job.motion, tokens=job.render_tokens, states=job.states,
                            expression=job.expression, steps=job.plan.steps, generator=gen)
        job.out, self._carry = self.renderer.denoise(inputs, job.face.prepared, self._carry)
        return job

    def _clip_motion(self, job: _Job, gen: torch.Generator) -> np.ndarray:
        """(n, DIM): from the given track (offline), else from the motion source."""
        plan = job.plan
        if self.motion_track is not None:
            idx = np.minimum(np.arange(plan.start, plan.start + plan.n), len(self.motion_track) - 1)
            return np.asarray(self.motion_track[idx], np.float32)
        motion = self.motion.generate(job.motion_tokens, job.states, job.expression, self._history,
                                      plan.steps, gen)
        k = self.motion.motion_frames
        if k:
            past = motion if self._history is None else np.concatenate([self._history[0], motion])
            self._history = past[-k:][None]                                    # (1, K, DIM)
        return motion

    def _decode(self, job: _Job) -> _Job:
        job.crops = self.renderer.decode(job.out, job.face.prepared)           # (n, S, S, 3) uint8
        job.out = None
        return job

    def _paste(self, job: _Job) -> _Job:
        job.rgb = job.face.portrait.paste(job.face.aligned, job.crops)        # (n, H, W, 3) uint8
        job.crops = None
        return job

    def _emit(self, job: _Job) -> Iterator[Frame]:
        event = getattr(job, "cuda_event", None)
        if event is not None:
            event.synchronize()
        now = time.monotonic()
        plan = job.plan
        for k in range(plan.skipped):
            rgb = self._last_rgb if self._last_rgb is not None else job.rgb[0]
            idx = plan.start - plan.skipped + k
            yield Frame(idx, rgb, job.motion[0], int(job.states[0, 0]), job.clip, 0, True, now)
        for k in range(plan.n):
            self._last_rgb = job.rgb[k]
            yield Frame(plan.start + k, job.rgb[k], job.motion[k], int(job.states[0, k]), job.clip, plan.steps,
                        plan.degraded or plan.steps < self.config.planner.steps, now)


def _samples(ms: float) -> int:
    return int(round(ms * SAMPLE_RATE / 1000))

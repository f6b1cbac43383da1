"""The streaming engine: audio-clocked clips through features -> denoise -> decode -> paste.

One engine serves both the live node (audio arrives in chunks, the wall clock
runs) and offline rendering (all inputs up front). Live, a driver thread waits
on a condition for each clip's audio to be complete (``start``/``frames``);
offline, ``render`` cuts the clips straight from per-frame arrays and feeds them
from the caller's thread. Both plan clips and build jobs with the same methods
and run the same stages in the same Pipeline. See planner.py for clip lengths
and degradation, stage.py for the pipeline, timeline.py for the two inputs.

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
from avatar.model_runtime.engine.timeline import SAMPLES_PER_FRAME, SAMPLE_RATE, FrameInputs, LiveInputs
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
    motion: np.ndarray | None = None             # (n, DIM): given (offline track) or made in denoise
    motion_tokens: torch.Tensor | None = None    # (1, n, D) for the motion source
    render_tokens: torch.Tensor | None = None    # (1, n, D) for the renderer
    out: Any = None                              # the renderer's denoise output
    crops: np.ndarray | None = None              # (n, S, S, 3) uint8
    rgb: np.ndarray | None = None                # (n, H, W, 3) uint8
    cuda_event: object = None                    # set by the CUDA executor


class StreamingEngine:
    def __init__(self, renderer: Renderer, motion: MotionSource, portrait_image: np.ndarray,
                 config: EngineConfig = EngineConfig(), portraits: PortraitCache | None = None):
        self.renderer, self.motion, self.config = renderer, motion, config
        if portraits is None:
            portraits = WholeFrames() if config.framing == "whole" else PortraitCache(config.max_side)
        self.portraits = portraits
        self.inputs = LiveInputs()
        self._face = self.prepare_face(portrait_image)
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._fresh_stream()
        sources = (renderer, motion)
        self._context = max(s.audio_context_frames for s in sources)
        self._lookahead = max(_samples(s.audio_lookahead_ms) for s in sources)
        self.origin = time.monotonic()
        self.pipeline: Pipeline | None = None
        self._driver: threading.Thread | None = None

    def _fresh_stream(self) -> None:
        """Nothing planned or carried over yet: the first clip starts the stream."""
        self.planner = ClipPlanner(self.config.planner)
        self._planned_state = State.IDLE
        self._carry: Any = None
        self._history: np.ndarray | None = None
        self._last_face: PreparedFace | None = None
        self._last_rgb: np.ndarray | None = None

    @property
    def audio_lookahead_ms(self) -> float:
        return self._lookahead * 1000 / SAMPLE_RATE

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(H, W) of the output frames: the whole portrait, or (framing whole) the drawn crops."""
        face = self._face
        return face.aligned.crop.shape[:2] if self.config.framing == "whole" else face.portrait.image.shape[:2]

    def prepare_face(self, image: np.ndarray) -> PreparedFace:
        """Analyse (cached), crop and prepare a portrait; InputError if it has no usable face."""
        portrait = self.portraits.get(image)
        aligned = portrait.align(size=self.renderer.size, framing=self.renderer.framing)
        return PreparedFace(portrait, aligned, self.renderer.prepare(aligned.crop, aligned))

    # --- inputs (any thread) ------------------------------------------------------------
    def write_audio(self, samples: np.ndarray, start_sample: int) -> None:
        self.inputs.audio.write(samples, start_sample)
        with self._cv:
            self._cv.notify_all()

    def close_audio(self) -> None:
        """Offline: no more audio; the stream ends with the last frame that has audio."""
        self.inputs.audio.closed = True
        with self._cv:
            self._cv.notify_all()

    def set_state(self, frame: int, state: int) -> None:
        self.inputs.states.set(frame, int(state))
        with self._cv:
            self._cv.notify_all()

    def set_expression(self, frame: int, vector: np.ndarray) -> None:
        self.inputs.expressions.set(frame, np.asarray(vector, np.float32))

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
    def _pipeline(self) -> Pipeline:
        stages = [("features", self._features), ("denoise", self._denoise), ("decode", self._decode),
                  ("paste", self._paste)]
        device = getattr(self.renderer, "device", torch.device("cpu"))
        if device.type == "cuda":      # on the CPU the stages run as they are, one thread each
            stages = cuda_stages(stages, device)
        return Pipeline(stages, depth=self.config.depth)

    def render(self, inputs: FrameInputs) -> Iterator[Frame]:
        """Offline entry point: the frames of ``inputs``, in order, deterministic per seed. Clips are
        cut straight from the arrays and fed to the stages from this thread: no driver thread, no
        clock, no condition to wait on. Each call starts a fresh stream."""
        self._fresh_stream()
        self.pipeline = self._pipeline()
        try:
            for job in self.pipeline.map(self._offline_jobs(inputs)):
                yield from self._emit(job)
        finally:
            self.pipeline.shutdown()

    def _offline_jobs(self, inputs: FrameInputs) -> Iterator[_Job]:
        next_frame, clip = 0, 0
        while next_frame < inputs.n_frames:
            plan = self._commit(*self._next_plan(next_frame, inputs), total=inputs.n_frames)
            yield self._make_job(clip, plan, inputs)
            next_frame, clip = plan.start + plan.n, clip + 1

    def start(self) -> None:
        """Live (or all audio written and closed): a driver thread plans clips as audio completes."""
        self.origin = time.monotonic()
        self.pipeline = self._pipeline()
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
                    self.pipeline.submit(self._make_job(clip, plan, self.inputs))
                except PipelineError:
                    if self._stop.is_set():
                        return          # stopped while waiting for room: a normal end
                    raise
                next_frame, clip = plan.start + plan.n, clip + 1
                self.inputs.forget_before(next_frame, (next_frame - self._context - 2) * SAMPLES_PER_FRAME)
        finally:
            if self.pipeline is not None:
                self.pipeline.close()

    def _end_sample(self, plan: ClipPlan) -> int:
        return (plan.start + plan.n) * SAMPLES_PER_FRAME + self._lookahead

    def _wait_for_clip(self, next_frame: int) -> ClipPlan | None:
        """Block until the next clip's audio is complete; None when the stream has ended."""
        audio = self.inputs.audio
        with self._cv:
            while not self._stop.is_set():
                if audio.closed and next_frame * SAMPLES_PER_FRAME >= audio.written_until:
                    return None
                lag_ms = 0.0
                if self.config.live:
                    first_end = (next_frame + 1) * SAMPLES_PER_FRAME + self._lookahead
                    lag_ms = max(0.0, (self.clock_sample() - first_end) * 1000 / SAMPLE_RATE)
                plan, switch, state = self._next_plan(next_frame, self.inputs, lag_ms)
                end = self._end_sample(plan)
                available = audio.written_until
                if self.config.live:
                    # The clock completes silence; audio that arrived early counts only up to the
                    # look-ahead past the clock, so no frame is made (and stamped) ahead of it.
                    clock = self.clock_sample()
                    available = min(max(available, clock), clock + self._lookahead)
                if available >= end or audio.closed:
                    total = -(-audio.written_until // SAMPLES_PER_FRAME) if audio.closed else None
                    return self._commit(plan, switch, state, total)
                wait_s = (end - available) / SAMPLE_RATE if self.config.live else None
                self._cv.wait(timeout=wait_s)
        return None

    # --- planning and jobs, shared by the live driver and the offline feeder ---------------
    def _next_plan(self, next_frame: int, inputs: LiveInputs | FrameInputs,
                   lag_ms: float = 0.0) -> tuple[ClipPlan, int | None, int]:
        """The clip from ``next_frame`` (not yet committed), the state switch it stops at, its state."""
        switch = inputs.next_switch(next_frame)
        if switch is not None and switch <= next_frame + 1:
            switch = None
        state = inputs.state_at(next_frame)
        if state != self._planned_state:
            self.planner.restart()
        return self.planner.plan(next_frame, switch, lag_ms), switch, state

    def _commit(self, plan: ClipPlan, switch: int | None, state: int, total: int | None) -> ClipPlan:
        """``plan`` is submitted; ``total``: frames in a closed stream (it ends with its last frame)."""
        if total is not None:
            plan = replace(plan, n=min(plan.n, total - plan.start))
        self.planner.commit(plan, switch)
        self._planned_state = state
        return plan

    def _make_job(self, clip: int, plan: ClipPlan, inputs: LiveInputs | FrameInputs) -> _Job:
        """The clip's audio window (context + clip + look-ahead) and per-frame conditioning."""
        lo = (plan.start - self._context) * SAMPLES_PER_FRAME
        wave = inputs.read(lo, self._end_sample(plan))                         # (S,) float32
        states, expression = inputs.conditioning(plan.start, plan.n)           # (n,) int64, (n, 10) float32
        return _Job(clip=clip, plan=plan, face=self._face, wave=torch.from_numpy(wave)[None],
                    states=torch.from_numpy(states)[None], expression=torch.from_numpy(expression)[None],
                    motion=inputs.drawn_motion(plan.start, plan.n))

    # --- stages -------------------------------------------------------------------------
    def _tokens(self, source, job: _Job) -> torch.Tensor | None:
        """``source``'s tokens for the clip's frames, from its own share of the audio window."""
        ctx, extra = source.audio_context_frames, self._lookahead - _samples(source.audio_lookahead_ms)
        wave = job.wave[:, (self._context - ctx) * SAMPLES_PER_FRAME:job.wave.shape[1] - extra]
        tokens = source.features(wave, ctx + job.plan.n)                       # (1, ctx+n, D) or None
        return None if tokens is None else tokens[:, ctx:]

    def _features(self, job: _Job) -> _Job:
        if job.motion is None:
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
        """(n, DIM): the given track's (offline), else from the motion source."""
        if job.motion is not None:
            return job.motion
        motion = self.motion.generate(job.motion_tokens, job.states, job.expression, self._history,
                                      job.plan.steps, gen)
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

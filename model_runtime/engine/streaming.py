"""The streaming engine: audio-clocked clips through features -> denoise -> decode.

One engine serves both the live node (audio arrives in chunks, the wall clock
runs) and offline rendering (all audio up front): the only difference is the
clock that decides when a clip's audio is complete. See planner.py for clip
lengths and degradation, stage.py for the pipeline.
"""
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from avatar.model_runtime.conditioning import Cond, Reference
from avatar.model_runtime.engine.executors import cpu_stages, cuda_stages, to_host_pinned
from avatar.model_runtime.engine.planner import ClipPlan, ClipPlanner, PlannerConfig
from avatar.model_runtime.engine.stage import Pipeline, PipelineError
from avatar.model_runtime.engine.timeline import (SAMPLES_PER_FRAME, SAMPLE_RATE, AudioTimeline, StepTrack,
                                                   neutral_expression)
from avatar.model_runtime.samplers import sample_consistency

IDLE = 0


@dataclass(frozen=True)
class EngineConfig:
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    depth: int = 2                 # clips queued between stages
    reanchor: float = 0.05         # pull of motion frames toward the reference, per clip
    seed: int = 0
    live: bool = False             # True: the wall clock completes audio; False: only audio/close does


@dataclass
class Frame:
    index: int                     # frame n shows audio [n/25, (n+1)/25) s of the stream
    rgb: np.ndarray                # (H, W, 3) uint8
    state: int
    clip: int
    steps: int
    degraded: bool
    done_at: float                 # time.monotonic() when the frame left the decoder


@dataclass
class _Job:
    clip: int
    plan: ClipPlan
    ref: Reference
    wave: torch.Tensor             # (1, S) context + clip + look-ahead audio
    context: int                   # frames of audio history in ``wave``
    states: torch.Tensor           # (1, n) long
    expression: torch.Tensor       # (1, n, 10)
    tokens: torch.Tensor | None = None
    latents: torch.Tensor | None = None   # (1, n, C, h, w)
    rgb: np.ndarray | torch.Tensor | None = None   # (n, H, W, 3) uint8
    cuda_event: object = None                      # set by the CUDA executor


class StreamingEngine:
    def __init__(self, model, reference_image: np.ndarray, config: EngineConfig = EngineConfig()):
        self.model, self.config = model, config
        self.audio = AudioTimeline()
        self.states = StepTrack(IDLE)
        self.expressions = StepTrack(neutral_expression())
        self.planner = ClipPlanner(config.planner)
        self._ref = model.prepare_reference(reference_image)
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._motion: torch.Tensor | None = None
        self._last_ref: Reference | None = None
        self._last_rgb: np.ndarray | None = None
        self._planned_state = IDLE
        self._lookahead = int(round(model.audio_lookahead_ms * SAMPLE_RATE / 1000))
        self.origin = time.monotonic()
        self.pipeline: Pipeline | None = None
        self._driver: threading.Thread | None = None

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
        """New portrait: features are recomputed once; the next clip starts fresh."""
        ref = self.model.prepare_reference(image)
        with self._cv:
            self._ref = ref
            self.planner.restart()

    def clock_sample(self) -> int:
        """Live audio position (samples since ``origin``)."""
        return int((time.monotonic() - self.origin) * SAMPLE_RATE)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.origin = time.monotonic()
        stages = [("features", self._features), ("denoise", self._denoise), ("decode", self._decode)]
        device = getattr(self.model, "device", torch.device("cpu"))
        stages = cuda_stages(stages, device) if device.type == "cuda" else cpu_stages(stages)
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
                keep_from = (next_frame - self.model.audio_context_frames - 2) * SAMPLES_PER_FRAME
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
                    available = max(available, self.clock_sample())
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
        ctx = self.model.audio_context_frames
        lo = (plan.start - ctx) * SAMPLES_PER_FRAME
        wave = self.audio.read(lo, self._end_sample(plan))
        states = torch.tensor(self.states.span(plan.start, plan.n), dtype=torch.long)[None]
        expr = torch.from_numpy(np.stack(self.expressions.span(plan.start, plan.n)))[None]
        return _Job(clip=clip, plan=plan, ref=self._ref, wave=torch.from_numpy(wave)[None], context=ctx,
                    states=states, expression=expr)

    # --- stages -------------------------------------------------------------------------
    def _features(self, job: _Job) -> _Job:
        tokens = self.model.audio_tokens(job.wave, job.context + job.plan.n)   # (1, ctx+n, D)
        job.tokens = tokens[:, job.context:]
        return job

    def _denoise(self, job: _Job) -> _Job:
        if job.ref is not self._last_ref:
            self._motion, self._last_ref = None, job.ref      # new portrait: no carry-over
        motion = None
        if self._motion is not None:
            motion = self.model.anchor_motion(self._motion, job.ref, self.config.reanchor)
        cond = Cond(audio=job.tokens, state=job.states, expression=job.expression, ref=job.ref, motion=motion)
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + job.clip)
        noise = torch.randn((1, job.plan.n, *self.model.latent_shape), generator=gen)
        latents = sample_consistency(self.model.denoise, noise, self.model.sigmas(job.plan.steps), cond,
                                     generator=gen)
        self._motion = latents[:, -self.model.motion_frames:]
        job.latents = latents
        return job

    def _decode(self, job: _Job) -> _Job:
        job.rgb = to_host_pinned(self.model.decode(job.latents[0], job.ref))   # (n, H, W, 3) uint8
        return job

    def _emit(self, job: _Job) -> Iterator[Frame]:
        event = getattr(job, "cuda_event", None)
        if event is not None:
            event.synchronize()          # the pinned copy of the decoded frames has landed
        job.rgb = job.rgb.numpy() if isinstance(job.rgb, torch.Tensor) else job.rgb
        now = time.monotonic()
        plan = job.plan
        for k in range(plan.skipped):
            rgb = self._last_rgb if self._last_rgb is not None else job.rgb[0]
            idx = plan.start - plan.skipped + k
            yield Frame(idx, rgb, int(job.states[0, 0]), job.clip, 0, True, now)
        for k in range(plan.n):
            self._last_rgb = job.rgb[k]
            yield Frame(plan.start + k, job.rgb[k], int(job.states[0, k]), job.clip, plan.steps,
                        plan.degraded or plan.steps < self.config.planner.steps, now)

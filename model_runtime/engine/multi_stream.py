"""Several avatar streams on one device: B sessions stepped in lockstep, their clips batched.

One lockstep step makes the next clip of n frames for every session at once: one
audio-encoder call on (B, S) audio, one sampler run on (B, n, C, h, w) latents (so
every denoiser call is batched over the sessions) and one decoder call on B·n
latents. Each session keeps its own motion frames (carry), audio and reference;
all share the model. B streams are sustained at 25 FPS while one step takes at
most n / 25 s (a clip's worth of audio), which is what ``measure`` reports.

Pasting the crops back into each whole portrait is CPU work per stream (see the
bench's paste stage) and is not part of the step.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from avatar.core.state_machine import State
from avatar.model_runtime.conditioning import Cond, Reference
from avatar.model_runtime.engine.timeline import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from avatar.model_runtime.samplers import sample_consistency

REANCHOR = 0.05          # as the diffusion renderer pulls its carried latents


class BatchedStreams:
    """B diffusion-model sessions advanced together, one clip of ``clip`` frames per step."""

    def __init__(self, model, faces: list[np.ndarray], clip: int, steps: int, seed: int = 0):
        self.model, self.clip, self.steps, self.b = model, clip, steps, len(faces)
        refs = [model.prepare_reference(face) for face in faces]
        latent = torch.cat([r.latent for r in refs])                                     # (B, C, h, w)
        self.ref = Reference(latent=latent)
        # The decoder reads each session's reference image and maps once per frame: B·n rows.
        per_frame = [r for r in refs for _ in range(clip)]
        cl = torch.channels_last                                                          # as prepare_reference
        image = torch.cat([r.image for r in per_frame]).contiguous(memory_format=cl)      # (B·n, 3, S, S)
        maps = [torch.cat(m).contiguous(memory_format=cl) for m in zip(*(r.maps for r in per_frame))]
        self.decode_ref = Reference(latent=latent, image=image, maps=maps)
        dev = model.device
        self.states = torch.full((self.b, clip), int(State.SPEAKING), dtype=torch.long, device=dev)
        self.expression = torch.zeros(self.b, clip, model.config.denoiser.expr_dim, device=dev)
        self.generator = torch.Generator(device=dev).manual_seed(seed)
        self.carry: torch.Tensor | None = None                                             # (B, K, C, h, w)

    def step(self, wave: torch.Tensor, noise: torch.Tensor | None = None) -> np.ndarray:
        """wave (B, S): each session's context + clip + look-ahead audio -> (B, n, S, S, 3) uint8 crops.
        ``noise`` (B, n, C, h, w): the sampler's starting noise (default: drawn from the seeded generator)."""
        model, n = self.model, self.clip
        ctx = model.audio_context_frames
        tokens = model.audio_tokens(wave, ctx + n)[:, ctx:]                                # (B, n, D)
        motion = None if self.carry is None else model.anchor_motion(self.carry, self.ref, REANCHOR)
        cond = Cond(audio=tokens, state=self.states, expression=self.expression, ref=self.ref, motion=motion)
        if noise is None:
            noise = torch.randn((self.b, n, *model.latent_shape), generator=self.generator, device=model.device)
        latents = sample_consistency(model.denoise, noise.to(model.device), model.sigmas(self.steps), cond,
                                     generator=self.generator)                            # (B, n, C, h, w)
        self.carry = latents[:, -model.motion_frames:]
        rgb = model.decode(latents.flatten(0, 1), self.decode_ref)                         # (B·n, S, S, 3)
        return rgb.cpu().numpy().reshape(self.b, n, *rgb.shape[1:])


def audio_windows(model, waves: np.ndarray, clip: int, step: int) -> torch.Tensor:
    """(B, S_total) per-session audio -> (B, S) the window the ``step``-th clip reads (wrapping around)."""
    ctx = model.audio_context_frames
    lookahead = int(round(model.audio_lookahead_ms * SAMPLE_RATE / 1000))
    length = (ctx + clip) * SAMPLES_PER_FRAME + lookahead
    start = (step * clip * SAMPLES_PER_FRAME) % (waves.shape[1] - length)
    return torch.from_numpy(np.ascontiguousarray(waves[:, start:start + length]))


def measure(model, face: np.ndarray, waves: np.ndarray, b: int, clip: int, steps: int,
            warmup: int = 2, reps: int = 5) -> dict:
    """Median time of one lockstep step for ``b`` streams, and whether each stream keeps 25 FPS."""
    streams = BatchedStreams(model, [face] * b, clip, steps)
    times = []
    for k in range(warmup + reps):
        wave = audio_windows(model, waves[np.arange(b) % len(waves)], clip, k)
        t0 = time.perf_counter()
        frames = streams.step(wave)                     # ends with a device-to-host copy: synchronised
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    fps = clip / step_s
    return {"streams": b, "clip": clip, "steps": steps, "step_ms": round(step_s * 1e3, 2),
            "fps_per_stream": round(fps, 2), "frames_per_s": round(b * fps, 1), "sustained": bool(fps >= FPS),
            "frame_shape": list(frames.shape[2:])}


def max_streams(model, face: np.ndarray, waves: np.ndarray, candidates: list[int], clip: int, steps: int,
                deadline: float, every: bool = False) -> dict:
    """Try B in ``candidates`` (ascending) until a B no longer keeps 25 FPS (unless ``every``: all of them),
    memory runs out or time is up."""
    rows, stop = [], None
    for b in candidates:
        if time.monotonic() > deadline:
            stop = "time budget"
            break
        try:
            row = measure(model, face, waves, b, clip, steps)
        except torch.cuda.OutOfMemoryError:
            stop = f"out of device memory at B={b}"
            break
        rows.append(row)
        if not row["sustained"] and not every:
            stop = f"B={b} below {FPS} FPS per stream"
            break
    best = max((r["streams"] for r in rows if r["sustained"]), default=0)
    return {"size": model.size, "clip": clip, "steps": steps, "max_streams_at_25fps": best, "rows": rows,
            "stopped": stop or ("all candidates measured" if every else
                                "every candidate sustained: the real maximum may be higher")}

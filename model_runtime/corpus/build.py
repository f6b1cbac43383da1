"""Plan and render a whole corpus: identities, splits, clips in worker processes.

Splits are disjoint by identity (each identity belongs to one split), by
sentence (``sentences.split_of``) and by voice variant (test only uses the
held-out variants in ``speech.TEST_VARIANTS``). Rendering runs in processes
because libespeak-ng is one global, non-thread-safe instance per process.
It also carries synthesis state from one utterance to the next (measured:
the same text twice gives a few samples' difference), so every clip runs in
a fresh fork of a worker that never loaded the library: a clip's audio then
depends on its seed only, not on which clips the worker rendered before.
A finished clip is marked by its gt.json, so an interrupted build resumes.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from avatar.core.errors import InputError

from . import sentences, speech
from .clip import FPS, ClipSpec, render_clip
from .identity import COMBINATIONS, Identity, sample_identity
from .render import FaceRenderer
from .writer import write_json

VERSION = 1
SPLITS = ("train", "val", "test")
_STREAM_IDENTITY, _STREAM_CLIP, _STREAM_PLAN = 1, 2, 3


@dataclass(frozen=True)
class CorpusConfig:
    out: str
    hours: float = 2.0
    size: int = 256
    seed: int = 0
    workers: int = 2
    clip_min_s: float = 8.0
    clip_max_s: float = 12.0
    clips_per_identity: float = 2.0
    motion_only: bool = False      # audio + ground truth, no video or portraits (motion corpus)

    def validate(self) -> None:
        if not 0 < self.hours <= 1000:
            raise InputError(f"--hours must be in (0, 1000], got {self.hours}")
        if not (64 <= self.size <= 1024 and self.size % 8 == 0):
            raise InputError(f"--size must be a multiple of 8 in 64..1024, got {self.size}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")
        if not 1 <= self.workers <= 256:
            raise InputError(f"--workers must be in 1..256, got {self.workers}")


@dataclass
class Plan:
    identities: dict[str, list[Identity]]
    clips: list[ClipSpec]


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index]))


def make_plan(cfg: CorpusConfig) -> Plan:
    rng = _rng(cfg.seed, _STREAM_PLAN)
    durations: list[float] = []
    while sum(durations) < cfg.hours * 3600.0 or len(durations) < 3:
        durations.append(round(float(rng.uniform(cfg.clip_min_s, cfg.clip_max_s)) * FPS) / FPS)
    n_id = max(3, math.ceil(len(durations) / cfg.clips_per_identity))
    n_small = max(1, round(0.05 * n_id))
    order = rng.permutation(n_id)
    split_of = {int(i): ("test" if k < n_small else "val" if k < 2 * n_small else "train")
                for k, i in enumerate(order)}
    people = [sample_identity(f"id{i:05d}", _rng(cfg.seed, _STREAM_IDENTITY, i)) for i in range(n_id)]
    identities = {s: [p for i, p in enumerate(people) if split_of[i] == s] for s in SPLITS}
    clips = []
    for j, duration in enumerate(durations):
        i = j % n_id
        split = split_of[i]
        clip_id = f"c{j:05d}"
        clips.append(ClipSpec(clip_id=clip_id, split=split, identity=people[i],
                              entropy=(cfg.seed, _STREAM_CLIP, j), duration=duration,
                              size=cfg.size, out_dir=str(Path(cfg.out) / split / clip_id),
                              motion_only=cfg.motion_only))
    return Plan(identities, clips)


def _check_out_dir(cfg: CorpusConfig) -> None:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    stamp = {"version": VERSION, "seed": cfg.seed, "size": cfg.size, "hours": cfg.hours}
    if cfg.motion_only:           # only then: older corpora keep their stamp
        stamp["motion_only"] = True
    plan_file = out / "plan.json"
    if plan_file.exists():
        old = json.loads(plan_file.read_text())
        if old != stamp:
            raise InputError(f"{out} holds a corpus with other settings {old}; choose another --out")
    elif out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} is not empty and is not a corpus directory")
    out.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(stamp))


def _write_identities(plan: Plan, out: Path, size: int, portraits: bool = True) -> None:
    folder = out / "identities"
    folder.mkdir(exist_ok=True)
    for people in plan.identities.values():
        for ident in people:
            png = folder / f"{ident.name}.png"
            if portraits and not png.exists():
                portrait = FaceRenderer(ident, size).portrait()
                cv2.imwrite(str(png), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
            (folder / f"{ident.name}.json").write_text(json.dumps(ident.to_json()))


def render_isolated(spec: ClipSpec) -> dict:
    """``render_clip`` in a forked child, so that no espeak-ng state leaks between clips."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: render, report, and leave without running the parent's cleanup
        os.close(read_fd)
        try:
            payload = pickle.dumps(("ok", render_clip(spec)))
        except BaseException:  # noqa: B036 - everything must reach the parent
            payload = pickle.dumps(("error", traceback.format_exc()))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    kind, value = pickle.loads(data) if data else ("error", f"exit status {status}")
    if kind != "ok":
        raise RuntimeError(f"rendering clip {spec.clip_id} failed:\n{value}")
    return value


def _render_all(todo: list[ClipSpec], workers: int) -> list[dict]:
    stats = []
    tty = sys.stderr.isatty()
    bar = tqdm(total=len(todo), unit="clip", desc="corpus", disable=not tty)
    log_every = max(1, len(todo) // 20)

    def done(result: dict) -> None:
        stats.append(result)
        bar.update(1)
        if not tty and len(stats) % log_every == 0:
            print(f"corpus: {len(stats)}/{len(todo)} clips", file=sys.stderr, flush=True)

    # spawned workers start clean even when this process has used espeak-ng already
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for fut in as_completed([pool.submit(render_isolated, s) for s in todo]):
            done(fut.result())
    bar.close()
    return stats


def build_corpus(cfg: CorpusConfig) -> dict:
    """Render the corpus described by ``cfg``; returns meta.json's content."""
    cfg.validate()
    _check_out_dir(cfg)
    out = Path(cfg.out)
    t0 = time.perf_counter()
    plan = make_plan(cfg)
    _write_identities(plan, out, cfg.size, portraits=not cfg.motion_only)
    todo = [c for c in plan.clips if not (Path(c.out_dir) / "gt.json").exists()]
    stats = _render_all(todo, cfg.workers)
    wall = time.perf_counter() - t0
    frames = sum(s["frames"] for s in stats)
    meta = {
        "version": VERSION, "seed": cfg.seed, "size": cfg.size, "fps": FPS, "motion_only": cfg.motion_only,
        "sample_rate": speech.SAMPLE_RATE, "hours": cfg.hours,
        "splits": {s: [c.clip_id for c in plan.clips if c.split == s] for s in SPLITS},
        "identities": {s: [p.name for p in plan.identities[s]] for s in SPLITS},
        "voices": {"train_val": [v.name for v in speech.voices_for_split("train")],
                   "test": [v.name for v in speech.voices_for_split("test")]},
        "identity_combinations": COMBINATIONS,
        "sentence_fillings": sentences.count_sentences(),
        "render_stats": {
            "clips_total": len(plan.clips), "clips_rendered": len(stats),
            "clips_resumed": len(plan.clips) - len(todo), "frames_rendered": frames,
            "audio_hours_rendered": round(sum(s["seconds"] for s in stats) / 3600.0, 4),
            "wall_s": round(wall, 2), "workers": cfg.workers,
            "clips_per_s": round(len(stats) / wall, 3) if wall > 0 else None,
            "frames_per_s": round(frames / wall, 1) if wall > 0 else None,
            "worker_s_per_clip": round(float(np.mean([s["total_s"] for s in stats])), 3)
            if stats else None,
        },
        "config": {k: v for k, v in asdict(cfg).items() if k != "out"},
    }
    write_json(out / "meta.json", meta)
    return meta

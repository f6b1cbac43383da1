"""Model quality on held-out corpus clips: the numbers in MODEL_CARD.md.

Each clip of a split (identities and sentences unseen in training) is generated from its
identity portrait, its speech, its ground-truth state per frame and its commanded expression
track, by the same streaming engine as `avatar render`, and scored by ``evaluate_video``
against the clip's gt.json. One pass per sampler step count.
"""
import time
from dataclasses import dataclass

import numpy as np

from avatar.core.state_machine import State
from avatar.model_runtime.engine.motion_source import ExplicitMotion
from avatar.model_runtime.engine.offline import offline_engine, render_frames
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.engine.timeline import FrameInputs
from avatar.model_runtime.renderers.diffusion import DiffusionRenderer
from avatar.model_runtime.evaluation.runner import evaluate_video


@dataclass(frozen=True)
class ModelEvalConfig:
    split: str = "test"
    clips: int = 12            # first N clips of the split (sorted by id); 0 = all
    steps: tuple[int, ...] = (1, 2, 4)
    seed: int = 0
    clip: int = PlannerConfig.clip   # engine clip length in frames
    framing: str = "whole"     # corpus frames are the model's framing; "face" crops and pastes as for a photo
    repose: bool | tuple[str, ...] = False   # DiffusionRenderer(repose=...): reference re-posed to the expression


def generate_clip(model, clip_ref, corpus, steps: int, seed: int, clip: int, framing: str = "whole",
                  repose: bool | tuple[str, ...] = False) -> np.ndarray:
    """(T, H, W, 3) uint8 frames for one corpus clip, conditioned on its gt states and expressions."""
    gt = clip_ref.gt
    n = clip_ref.n_frames
    states = np.asarray(gt["frames"]["state"][:n], np.int64)
    expressions = np.asarray(gt["frames"]["expression"][:n], np.float32)     # (T, 10)
    portrait = corpus.identity_image(clip_ref.identity)
    # Corpus frames already are the model's framing: by default the whole frame is the crop.
    engine = offline_engine(DiffusionRenderer(model, repose=repose), ExplicitMotion(), portrait, steps, seed, clip,
                            framing=framing)
    return render_frames(engine, FrameInputs.of(clip_ref.load_speech(), n, states, expressions))


def switch_response(aperture: np.ndarray, states: np.ndarray, window: int = 8) -> float | None:
    """Frames after a speaking -> listening/idle switch until the estimated aperture is within
    0.05 of its settled (median) value over the next ``window`` frames; mean over switches.
    None if the clip has no such switch with ``2 * window`` frames after it."""
    delays = []
    for f in np.flatnonzero((states[:-1] == State.SPEAKING) & (states[1:] != State.SPEAKING)) + 1:
        after = aperture[f:f + 2 * window]
        if len(after) < 2 * window:
            continue
        settled = np.median(after[window:])
        close = np.flatnonzero(np.abs(after - settled) <= 0.05)
        delays.append(int(close[0]) if len(close) else 2 * window)
    return float(np.mean(delays)) if delays else None


def summarise(rows: list[dict]) -> dict:
    """Mean (and, for sync, the share at lag 0) over clips; None entries are left out."""
    def mean(key):
        values = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(values)) if values else None

    lags = [r["sync_lag"] for r in rows if r["sync_lag"] is not None]
    return {
        "clips": len(rows),
        "sync_r": mean("sync_r"), "sync_r_lag0": mean("sync_r_lag0"),
        "sync_lag_median": float(np.median(lags)) if lags else None,
        "sync_lag0_share": float(np.mean(np.array(lags) == 0)) if lags else None,
        "audio_r": mean("audio_r"),
        "listening_ratio": mean("listening_ratio"), "idle_ratio": mean("idle_ratio"),
        "expression_r": mean("expression_r"), "expression_r_gt": mean("expression_r_gt"),
        "switch_frames": mean("switch_frames"), "flicker": mean("flicker"),
        "fps": mean("fps"),
    }


def _row(result: dict, aperture_states: tuple[np.ndarray, np.ndarray] | None, fps: float) -> dict:
    sync = result["sync"]["gt"] or {}
    still = result["stillness"] or {}
    expr = result["expression"] or {}
    return {
        "sync_r": sync.get("r"), "sync_lag": sync.get("lag"), "sync_r_lag0": sync.get("r_lag0"),
        "audio_r": (result["sync"]["audio"] or {}).get("r"),
        "listening_ratio": still.get("listening_ratio"), "idle_ratio": still.get("idle_ratio"),
        "expression_r": expr.get("r_mean"), "expression_r_gt": expr.get("r_mean_gt"),
        "expression_per_control": expr.get("per_control"),
        "switch_frames": switch_response(*aperture_states) if aperture_states else None,
        "flicker": result["flicker"]["temporal_hf"], "fps": fps,
    }


def evaluate_model(model, corpus, estimator, cfg: ModelEvalConfig, log=print) -> dict:
    """{"per_steps": {steps: summary}, "clips": {steps: [row per clip]}} for ``cfg.split``."""
    from avatar.model_runtime.evaluation.estimator import estimate
    clips = corpus.split(cfg.split)
    clips = clips[:cfg.clips] if cfg.clips else clips
    out = {"split": cfg.split, "per_steps": {}, "clips": {}}
    for steps in cfg.steps:
        rows = []
        for ref in clips:
            t0 = time.perf_counter()
            frames = generate_clip(model, ref, corpus, steps, cfg.seed, cfg.clip, cfg.framing, cfg.repose)
            fps = len(frames) / (time.perf_counter() - t0)
            est = estimate(estimator, frames)
            result = evaluate_video(frames, ref.load_speech(), ref.gt, estimator=estimator, estimates=est)
            aperture = est.params["mouth_open"]
            states = np.asarray(ref.gt["frames"]["state"][:len(frames)], np.int64)
            rows.append(dict(clip=ref.clip_id, **_row(result, (aperture, states), fps)))
            if log:
                r = rows[-1]
                log(f"steps {steps} {ref.clip_id}: sync r {r['sync_r']:.3f} lag {r['sync_lag']} "
                    f"expr {r['expression_r'] if r['expression_r'] is None else round(r['expression_r'], 3)} "
                    f"({fps:.1f} fps)")
        out["per_steps"][steps] = summarise(rows)
        out["clips"][steps] = rows
    return out


def format_summary(report: dict) -> str:
    keys = ("sync_r", "sync_r_lag0", "sync_lag_median", "sync_lag0_share", "audio_r", "listening_ratio",
            "idle_ratio", "expression_r", "expression_r_gt", "switch_frames", "flicker", "fps")
    steps = list(report["per_steps"])
    lines = ["| metric | " + " | ".join(f"{s} step{'s' if s > 1 else ''}" for s in steps) + " |",
             "|---|" + "---|" * len(steps)]
    for key in keys:
        cells = [report["per_steps"][s][key] for s in steps]
        lines.append(f"| {key} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)

"""evaluate_video: every `avatar eval` metric from in-memory frames, audio and ground truth.

The result dict always has the same keys (docs/EVAL.md); a metric that cannot be computed
from the inputs given is None, with the reason in result["notes"].
"""
import numpy as np

from avatar.core.errors import InputError
from avatar.core.expression import INDEX as EXPRESSION_INDEX
from avatar.model_runtime.evaluation import metrics
from avatar.model_runtime.evaluation.estimator import Estimates, FaceEstimator, estimate, load_estimator
from avatar.model_runtime.evaluation.media import check_audio_length, check_gt

FPS = 25
# Commanded expression control -> (measured gt.json/estimator key, sign).
EXPRESSION_PAIRS: dict[str, tuple[str, float]] = {
    "smile": ("smile", 1.0),
    "brow_raise": ("brow", 1.0),
    "brow_furrow": ("brow", -1.0),
    "eye_open": ("eye_open", 1.0),
    "gaze_x": ("gaze_x", 1.0),
    "gaze_y": ("gaze_y", 1.0),
    "head_nod": ("head_pitch", 1.0),
    "head_tilt": ("head_roll", 1.0),
}


def sync_metrics(aperture: np.ndarray, speech: np.ndarray | None, gt: dict | None, max_lag: int) -> dict:
    out = {"gt": None, "audio": None, "gt_vs_audio": None}
    envelope = metrics.audio_envelope(speech, len(aperture)) if speech is not None else None
    if gt is not None:
        gt_open = np.asarray(gt["frames"]["mouth_open"], np.float64)
        out["gt"] = metrics.lagged_correlation(aperture, gt_open, max_lag).as_dict()
        if envelope is not None:
            # What a perfect mouth would score against the audio: the ceiling for "audio".
            out["gt_vs_audio"] = metrics.lagged_correlation(gt_open, envelope, max_lag).as_dict()
    if envelope is not None:
        out["audio"] = metrics.lagged_correlation(aperture, envelope, max_lag).as_dict()
    return out


def expression_metrics(est: Estimates, gt: dict) -> dict:
    commanded_all = np.asarray(gt["frames"]["expression"], np.float64)      # (T, 10)
    commanded = {name: commanded_all[:, EXPRESSION_INDEX[name]] for name in EXPRESSION_PAIRS}
    measured = {name: sign * est.params[key] for name, (key, sign) in EXPRESSION_PAIRS.items()}
    return metrics.efficacy(commanded, measured)


def drift_metrics(frames: np.ndarray, est: Estimates, reference_embedding: np.ndarray | None) -> dict:
    first, last, length = metrics.drift_windows(len(frames), FPS)
    colour = metrics.histogram_similarity(metrics.lab_histogram(frames[first]), metrics.lab_histogram(frames[last]))
    emb_first = est.embedding[first].mean(axis=0)
    emb_last = est.embedding[last].mean(axis=0)
    identity = metrics.cosine(emb_first, emb_last)
    sharp_first, sharp_last = metrics.sharpness(frames[first]), metrics.sharpness(frames[last])
    ratio = sharp_last / sharp_first if sharp_first > 1e-9 else 0.0
    sharp_sim = min(ratio, 1.0 / ratio) if ratio > 0 else 0.0
    out = {
        "window_s": length / FPS,
        "colour": colour,
        "identity": identity,
        "identity_ref_first": None,
        "identity_ref_last": None,
        "sharpness_ratio": ratio,
        "similarity": min(colour, identity, sharp_sim),
    }
    if reference_embedding is not None:
        out["identity_ref_first"] = metrics.cosine(emb_first, reference_embedding)
        out["identity_ref_last"] = metrics.cosine(emb_last, reference_embedding)
    return out


def stillness_metrics(aperture: np.ndarray, gt: dict | None, notes: list[str]) -> dict | None:
    if gt is None:
        notes.append("stillness needs state labels: pass --gt (offline state detection is not wired in yet)")
        return None
    return metrics.stillness(aperture, np.asarray(gt["frames"]["state"], int))


def check_inputs(frames: np.ndarray, speech: np.ndarray | None, gt: dict | None) -> None:
    """Raise InputError unless frames, audio and ground truth describe the same video."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(f"frames must be (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
    if len(frames) < 10:
        raise InputError(f"the video is too short to evaluate ({len(frames)} frames, need >= 10)")
    if gt is not None:
        check_gt(gt, len(frames))
    if speech is not None:
        check_audio_length(speech, len(frames))


def evaluate_video(frames: np.ndarray, speech: np.ndarray | None = None, gt: dict | None = None,
                   reference: np.ndarray | None = None, estimator: FaceEstimator | None = None,
                   max_lag: int = 5) -> dict:
    """Score a 25 fps video given as (T, H, W, 3) uint8 RGB.

    speech: the avatar's voice, 16 kHz mono float32, sample 0 = start of frame 0.
    gt: a corpus gt.json dict for the same frames. reference: the portrait, (H, W, 3) uint8 RGB.
    """
    frames = np.asarray(frames)
    check_inputs(frames, speech, gt)
    model = estimator if estimator is not None else load_estimator()
    est = estimate(model, frames)
    ref_emb = estimate(model, reference[None]).embedding[0] if reference is not None else None
    aperture = est.params["mouth_open"]
    notes: list[str] = []
    if speech is None:
        notes.append("no audio: audio sync skipped")
    if gt is None:
        notes.append("no ground truth: gt sync and expression efficacy skipped")
    return {
        "n_frames": int(len(frames)),
        "fps": FPS,
        "duration_s": len(frames) / FPS,
        "sync": sync_metrics(aperture, speech, gt, max_lag),
        "stillness": stillness_metrics(aperture, gt, notes),
        "expression": expression_metrics(est, gt) if gt is not None else None,
        "drift": drift_metrics(frames, est, ref_emb),
        "flicker": metrics.flicker(frames),
        "notes": notes,
    }

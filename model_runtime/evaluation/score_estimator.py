"""Accuracy of the face estimator on held-out corpus identities (normally the test split).

    avatar eval --score-estimator --corpus DIR [--weights PATH] [--json]

Reports Pearson r and MAE per parameter on clean frames and on degraded ones (blur + JPEG,
what a generated frame looks like), per-clip aperture r, and how well the identity embedding
separates identities (ROC AUC of same- vs different-identity cosine).
"""
import numpy as np
import torch
from scipy.stats import rankdata

from avatar.model_runtime.evaluation import metrics
from avatar.model_runtime.evaluation.augment import gaussian_blur, jpeg_roundtrip
from avatar.model_runtime.evaluation.estimator import FaceEstimator, estimate
from avatar.model_runtime.evaluation.estimator_data import sample_split


def degrade(images: np.ndarray, sigma: float = 1.0, quality: int = 50) -> np.ndarray:
    """Deterministic blur + JPEG of (N, S, S, 3) uint8 frames."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = gaussian_blur(x, sigma).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = np.empty_like(x)
    for i, f in enumerate(x):
        out[i] = jpeg_roundtrip(f, quality)
    return out


def accuracy(pred: dict[str, np.ndarray], targets: np.ndarray, names: tuple[str, ...], clip: np.ndarray) -> dict:
    """Pooled r and MAE, plus the mean within-clip r (what the eval metrics rely on: they
    correlate inside one video, so a per-identity offset costs nothing there). Clips where a
    parameter barely moves (std < 10% of its overall std) are left out of its clip r."""
    out = {}
    for i, n in enumerate(names):
        clip_r = [metrics.pearson(pred[n][clip == c], targets[clip == c, i]) for c in np.unique(clip)
                  if targets[clip == c, i].std() >= 0.1 * targets[:, i].std()]
        out[n] = {"r": round(metrics.pearson(pred[n], targets[:, i]), 4),
                  "mae": round(float(np.abs(pred[n] - targets[:, i]).mean()), 4),
                  "gt_std": round(float(targets[:, i].std()), 4),
                  "clip_r": round(float(np.mean(clip_r)), 4) if clip_r else None,
                  "clip_r_min": round(float(np.min(clip_r)), 4) if clip_r else None}
    return out


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counted half (Mann-Whitney U)."""
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def appearance_drift(app: np.ndarray, clip: np.ndarray) -> dict:
    """Appearance cosine of the first vs the last 20% of each clip (what eval's drift uses)."""
    drift = []
    for c in np.unique(clip):
        idx = np.flatnonzero(clip == c)
        k = max(1, len(idx) // 5)
        drift.append(metrics.cosine(app[idx[:k]].mean(0), app[idx[-k:]].mean(0)))
    return {"drift_mean": round(float(np.mean(drift)), 4), "drift_min": round(float(np.min(drift)), 4)}


def identity_separation(emb: np.ndarray, identity: np.ndarray, clip: np.ndarray) -> dict:
    """Cosines between half-clip mean embeddings: same identity vs different identities; and
    `drift`: the first vs the last 20% of each clip, which is what `avatar eval` reports."""
    keys, vecs, drift = [], [], []
    for c in np.unique(clip):
        idx = np.flatnonzero(clip == c)
        k = max(1, len(idx) // 5)
        drift.append(metrics.cosine(emb[idx[:k]].mean(0), emb[idx[-k:]].mean(0)))
        for half in np.array_split(idx, 2):
            v = emb[half].mean(0)
            vecs.append(v / np.linalg.norm(v))
            keys.append(identity[idx[0]])
    vecs, keys = np.stack(vecs), np.array(keys)
    cos = vecs @ vecs.T
    iu = np.triu_indices(len(keys), 1)
    same = keys[iu[0]] == keys[iu[1]]
    pos, neg = cos[iu][same], cos[iu][~same]
    if len(pos) == 0 or len(neg) == 0:
        return {"same_mean": None, "different_mean": None, "auc": None}
    return {"drift_mean": round(float(np.mean(drift)), 4), "drift_min": round(float(np.min(drift)), 4),
            "same_mean": round(float(pos.mean()), 4), "same_min": round(float(pos.min()), 4),
            "different_mean": round(float(neg.mean()), 4), "different_max": round(float(neg.max()), 4),
            "auc": round(roc_auc(pos, neg), 4)}


def score(model: FaceEstimator, clips: list, stride: int = 2, max_frames: int = 20000, log=print) -> dict:
    data = sample_split(clips, model.cfg.input_size, model.cfg.crop, stride, max_frames, seed=1, log=None)
    names = model.cfg.params
    clean = estimate(model, data.images, prepared=True)
    degraded = estimate(model, degrade(data.images), prepared=True)
    report = {
        "n_frames": int(len(data.images)), "n_clips": int(len(np.unique(data.clip))),
        "n_identities": len(data.identities),
        "clean": accuracy(clean.params, data.targets, names, data.clip),
        "degraded": accuracy(degraded.params, data.targets, names, data.clip),
        "identity": identity_separation(clean.embedding, data.identity, data.clip),
        "appearance": appearance_drift(clean.appearance, data.clip),
    }
    if log:
        log(format_report(report))
    return report


def format_report(report: dict) -> str:
    def f(v, spec=".3f"):
        return "n/a" if v is None else format(v, spec)

    lines = [f"held-out: {report['n_frames']} frames, {report['n_clips']} clips, "
             f"{report['n_identities']} identities",
             f"{'parameter':<12} {'r':>7} {'MAE':>7} {'clip r':>7} {'min':>7} {'r(deg)':>7} {'MAE(deg)':>8} "
             f"{'clip r(deg)':>11} {'gt std':>7}"]
    for n, a in report["clean"].items():
        d = report["degraded"][n]
        lines.append(f"{n:<12} {a['r']:>7.3f} {a['mae']:>7.4f} {f(a['clip_r']):>7} {f(a['clip_r_min']):>7} "
                     f"{d['r']:>7.3f} {d['mae']:>8.4f} {f(d['clip_r']):>11} {a['gt_std']:>7.4f}")
    lines.append(f"identity embedding: {report['identity']}")
    lines.append(f"appearance features: {report['appearance']}")
    return "\n".join(lines)

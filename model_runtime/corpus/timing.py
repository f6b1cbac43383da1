"""How well the rendered mouth follows the audio: correlation and best lag.

The viseme-driven aperture (gt mouth_open) is compared with the loudness of
the avatar's own speech in the same video frame (samples [t*640, (t+1)*640)),
over speaking frames only. A positive lag means the mouth trails the audio.

    python -m avatar.model_runtime.corpus.timing CORPUS [--split test] [--clips 50]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from .behaviour import SPEAKING, energy_track
from .reader import open_corpus


def lagged_corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray, lag: int) -> float:
    """Pearson r of a[t] and b[t - lag] over frames where mask holds for both."""
    n = len(a)
    if lag >= 0:
        x, y, m = a[lag:], b[:n - lag], mask[lag:] & mask[:n - lag]
    else:
        x, y, m = a[:n + lag], b[-lag:], mask[:n + lag] & mask[-lag:]
    x, y = x[m], y[m]
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def clip_sync(mouth: np.ndarray, speech: np.ndarray, state: np.ndarray,
              max_lag: int = 5) -> dict[int, float]:
    n = len(mouth)
    env = energy_track(speech, n)
    mask = state == SPEAKING
    return {lag: lagged_corr(mouth, env, mask, lag) for lag in range(-max_lag, max_lag + 1)}


def sync_report(corpus_path: str, split: str = "test", max_clips: int = 50) -> dict:
    corpus = open_corpus(corpus_path)
    per_lag: dict[int, list[float]] = {}
    for clip in corpus.split(split)[:max_clips]:
        frames = clip.gt["frames"]
        res = clip_sync(np.asarray(frames["mouth_open"]), clip.load_speech(),
                        np.asarray(frames["state"]))
        for lag, r in res.items():
            if np.isfinite(r):
                per_lag.setdefault(lag, []).append(r)
    mean = {lag: float(np.mean(v)) for lag, v in sorted(per_lag.items())}
    best = max(mean, key=mean.get)
    return {"split": split, "clips": len(per_lag.get(0, [])), "best_lag_frames": best,
            "r_at_best": round(mean[best], 3), "r_at_0": round(mean[0], 3),
            "r_by_lag": {k: round(v, 3) for k, v in mean.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--split", default="test")
    ap.add_argument("--clips", type=int, default=50)
    a = ap.parse_args(argv)
    print(json.dumps(sync_report(a.corpus, a.split, a.clips), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How well the rendered mouth follows the audio: correlation and best lag.

The viseme-driven aperture (gt mouth_open) is compared with the loudness of
the avatar's own speech in the same video frame (samples [t*640, (t+1)*640)),
over speaking frames only. A positive lag means the mouth trails the audio.
``fine_lag_ms`` repeats the comparison at 5 ms resolution: the aperture is
recomputed from the stored phoneme events on a 200 Hz grid and compared with
a 20 ms RMS envelope, which resolves timing errors far below one frame.

    python -m avatar.model_runtime.corpus.timing CORPUS [--split test] [--clips 50]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from avatar.core.state_machine import State
from avatar.core.timebase import SAMPLE_RATE

from .behaviour import energy_track
from .reader import open_corpus
from .visemes import mouth_tracks

FINE_HZ = 200


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
    mask = state == State.SPEAKING
    return {lag: lagged_corr(mouth, env, mask, lag) for lag in range(-max_lag, max_lag + 1)}


def fine_lag_ms(gt: dict, speech: np.ndarray, max_lag_ms: int = 100) -> dict[int, float]:
    """Correlation of aperture and loudness at 5 ms steps, by lag in ms (speaking only)."""
    hop = SAMPLE_RATE // FINE_HZ
    n = len(speech) // hop
    spans = [(g["start"], g["end"]) for g in gt["segments"] if g["state"] == "speaking"]
    utterances = []
    for a, b in spans:
        ph = [(t - a, p) for t, p in gt["phonemes"] if a - 1e-3 <= t <= b + 1e-3]
        utterances.append((a, ph, b - a))
    aperture = mouth_tracks(utterances, n, fps=FINE_HZ)["aperture"]
    power = np.convolve(speech.astype(np.float64) ** 2, np.ones(4 * hop) / (4 * hop), "same")
    env = np.sqrt(power[hop // 2::hop][:n])
    t = (np.arange(n) + 0.5) / FINE_HZ
    mask = np.zeros(n, bool)
    for a, b in spans:
        mask |= (t >= a) & (t < b)
    step = 1000 // FINE_HZ
    return {lag * step: lagged_corr(aperture, env, mask, lag)
            for lag in range(-max_lag_ms // step, max_lag_ms // step + 1)}


def sync_report(corpus_path: str, split: str = "test", max_clips: int = 50) -> dict:
    corpus = open_corpus(corpus_path)
    per_lag: dict[int, list[float]] = {}
    per_ms: dict[int, list[float]] = {}
    for clip in corpus.split(split)[:max_clips]:
        frames, wave = clip.gt["frames"], clip.load_speech()
        for store, res in ((per_lag, clip_sync(np.asarray(frames["mouth_open"]), wave,
                                               np.asarray(frames["state"]))),
                           (per_ms, fine_lag_ms(clip.gt, wave))):
            for lag, r in res.items():
                if np.isfinite(r):
                    store.setdefault(lag, []).append(r)
    mean = {lag: float(np.mean(v)) for lag, v in sorted(per_lag.items())}
    fine = {lag: float(np.mean(v)) for lag, v in sorted(per_ms.items())}
    best, best_ms = max(mean, key=mean.get), max(fine, key=fine.get)
    return {"split": split, "clips": len(per_lag.get(0, [])), "best_lag_frames": best,
            "r_at_best": round(mean[best], 3), "r_at_0": round(mean[0], 3),
            "r_by_lag": {k: round(v, 3) for k, v in mean.items()},
            "fine_best_lag_ms": best_ms, "fine_r_at_best": round(fine[best_ms], 3),
            "fine_r_at_0": round(fine[0], 3)}


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

"""Contact sheet of a corpus: identities x states (speaking, listening, idle).

    python -m avatar.model_runtime.corpus.sheet CORPUS OUT.png [--identities 8] [--tile 128]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from avatar.core.state_machine import State

from .reader import ClipRef, open_corpus

_STATES = tuple((int(s), s.label) for s in reversed(State))     # speaking, listening, idle


def _pick_frame(clip: ClipRef, state: int) -> int | None:
    frames = clip.gt["frames"]
    s = np.asarray(frames["state"])
    idx = np.flatnonzero(s == state)
    if idx.size == 0:
        return None
    if state == State.SPEAKING:  # the widest mouth shows speech best
        return int(idx[np.argmax(np.asarray(frames["mouth_open"])[idx])])
    return int(idx[idx.size // 2])


def contact_sheet(corpus_path: str, n_identities: int = 8, tile: int = 128) -> np.ndarray:
    corpus = open_corpus(corpus_path)
    clips = [c for s in ("test", "val", "train") for c in corpus.split(s)]
    rows, seen = [], set()
    for clip in clips:
        if clip.identity in seen:
            continue
        picks = [_pick_frame(clip, s) for s, _ in _STATES]
        if any(p is None for p in picks):
            continue
        seen.add(clip.identity)
        video = clip.load_frames()
        rows.append(np.hstack([cv2.resize(video[p], (tile, tile), interpolation=cv2.INTER_AREA)
                               for p in picks]))
        if len(rows) == n_identities:
            break
    if not rows:
        raise ValueError(f"{corpus_path}: no clip shows all three states")
    header = np.full((18, 3 * tile, 3), 255, np.uint8)
    for k, (_, name) in enumerate(_STATES):
        cv2.putText(header, name, (k * tile + 6, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    cols = 2 if len(rows) > 4 else 1
    per_col = -(-len(rows) // cols)
    blank = np.zeros_like(rows[0])
    columns = [np.vstack([header] + (rows[c * per_col:(c + 1) * per_col] +
                                     [blank] * per_col)[:per_col]) for c in range(cols)]
    gap = np.full((columns[0].shape[0], 6, 3), 255, np.uint8)
    return np.hstack([x for c in columns for x in (c, gap)][:-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--identities", type=int, default=8)
    ap.add_argument("--tile", type=int, default=128)
    a = ap.parse_args(argv)
    sheet = contact_sheet(a.corpus, a.identities, a.tile)
    cv2.imwrite(a.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Frames and labels for the face estimator, sampled from a corpus split (decoded with the reader)."""
from dataclasses import dataclass

import numpy as np

from avatar.core.errors import AvatarError
from avatar.model_runtime.evaluation.estimator import PARAM_NAMES, prepare_frames


@dataclass
class FrameSet:
    images: np.ndarray      # (N, S, S, 3) uint8 RGB at the estimator's input size
    targets: np.ndarray     # (N, P) float32, PARAM_NAMES order
    identity: np.ndarray    # (N,) int, index into `identities`
    clip: np.ndarray        # (N,) int, index of the source clip in the split
    identities: list[str]


def clip_targets(gt: dict) -> np.ndarray:
    """gt.json per-frame parameters as (T, P) float32."""
    return np.stack([np.asarray(gt["frames"][k], np.float32) for k in PARAM_NAMES], axis=1)


def sample_split(clips: list, size: int, crop: float, stride: int, max_frames: int, seed: int = 0,
                 log=print) -> FrameSet:
    """Every `stride`-th frame (random phase) of clips in random order, up to max_frames.

    Neighbouring frames are near-duplicates, so a stride spends the decode and memory budget
    on more clips and identities instead.
    """
    if not clips:
        raise AvatarError("the corpus split is empty")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(clips))
    names = sorted({c.identity for c in clips})
    index = {n: i for i, n in enumerate(names)}
    images, targets, ident, clip_ids, total = [], [], [], [], 0
    for k, ci in enumerate(order):
        clip = clips[ci]
        frames = clip.load_frames()                            # (T, H, W, 3)
        y = clip_targets(clip.gt)
        if len(y) != len(frames):
            raise AvatarError(f"clip {ci}: gt has {len(y)} frames, video {len(frames)}")
        pick = np.arange(int(rng.integers(stride)), len(frames), stride)[:max_frames - total]
        images.append(prepare_frames(frames[pick], size, crop))
        targets.append(y[pick])
        ident.append(np.full(len(pick), index[clip.identity]))
        clip_ids.append(np.full(len(pick), ci))
        total += len(pick)
        if log and (k + 1) % 50 == 0:
            log(f"  loaded {k + 1}/{len(clips)} clips, {total} frames")
        if total >= max_frames:
            break
    return FrameSet(np.concatenate(images), np.concatenate(targets), np.concatenate(ident),
                    np.concatenate(clip_ids), names)

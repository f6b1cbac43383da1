"""A tiny corpus in the docs/CORPUS.md on-disk format, for smoke tests of the training code.

Faces are ellipses whose mouth opening follows the loudness of a noise-burst "speech"
track; it is not the real corpus (model_runtime/corpus renders that), only enough
structure for the pipeline to run end to end in seconds.
"""
import json
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile as sf

from avatar.core.expression import DIM
from avatar.model_runtime.config import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME


def draw_face(size: int, colour, mouth: float) -> np.ndarray:
    img = np.full((size, size, 3), 200, np.uint8)
    c = size // 2
    cv2.ellipse(img, (c, c), (size // 3, size * 2 // 5), 0, 0, 360, colour, -1)
    for dx in (-size // 8, size // 8):
        cv2.circle(img, (c + dx, c - size // 10), max(2, size // 32), (20, 20, 20), -1)
    cv2.ellipse(img, (c, c + size // 6), (size // 10, max(1, int(mouth * size / 12))), 0, 0, 360, (90, 10, 20), -1)
    return img


def write_video(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def make_clip(root: Path, split: str, clip: str, ident: str, colour, size: int, n_frames: int,
              rng: np.random.Generator) -> None:
    d = root / split / clip
    d.mkdir(parents=True)
    env = np.clip(np.convolve(rng.random(n_frames) > 0.5, np.ones(3) / 3, "same"), 0, 1)
    speech = (rng.standard_normal(n_frames * SAMPLES_PER_FRAME) * 0.3 * np.repeat(env, SAMPLES_PER_FRAME))
    sf.write(d / "speech.wav", speech.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    sf.write(d / "user.wav", np.zeros_like(speech, np.float32), SAMPLE_RATE, subtype="PCM_16")
    write_video(d / "video.mp4", np.stack([draw_face(size, colour, m) for m in env]))
    state = [2 if m > 0 else 0 for m in env]
    gt = {"identity": ident, "fps": FPS, "n_frames": n_frames, "sentences": [], "segments": [],
          "frames": {"mouth_open": env.tolist(), "state": state,
                     "expression": [[0.0] * DIM for _ in range(n_frames)]}}
    (d / "gt.json").write_text(json.dumps(gt))


def make_corpus(root, size: int = 64, n_identities: int = 3, clips_per_identity: int = 2,
                n_frames: int = 24, seed: int = 0) -> Path:
    root = Path(root)
    (root / "identities").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    splits = {"train": [], "val": [], "test": []}
    idents = {"train": [], "val": [], "test": []}
    for i in range(n_identities):
        split = "val" if i == n_identities - 1 else "train"
        ident, colour = f"id{i:03d}", tuple(int(c) for c in rng.integers(60, 255, 3))
        cv2.imwrite(str(root / "identities" / f"{ident}.png"), draw_face(size, colour, 0.0)[:, :, ::-1])
        # "mouth": centre y, x and half width in pixels (training's mouth-weighted loss).
        mouth = [size / 2 + size / 6, size / 2, size / 10]
        (root / "identities" / f"{ident}.json").write_text(json.dumps({"colour": colour, "mouth": mouth}))
        idents[split].append(ident)
        for j in range(clips_per_identity):
            clip = f"{ident}_{j:02d}"
            make_clip(root, split, clip, ident, colour, size, n_frames, rng)
            splits[split].append(clip)
    meta = {"version": 1, "seed": seed, "size": size, "fps": FPS, "sample_rate": SAMPLE_RATE,
            "hours": 0.0, "splits": splits, "identities": idents, "render_stats": {}}
    (root / "meta.json").write_text(json.dumps(meta))
    return root

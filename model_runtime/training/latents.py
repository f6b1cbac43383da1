"""Encode every corpus frame to a latent once (fp16 .npy next to the clip), so denoiser
training never decodes video or runs the encoder. Files are tagged with a hash of the
autoencoder checkpoint: retraining the autoencoder invalidates them automatically."""
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.core.errors import InputError
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.checkpoint import bundle_networks, load_bundle
from avatar.model_runtime.config import to_dict
from avatar.model_runtime.training.corpus_io import open_corpus, to_unit


def checkpoint_tag(path) -> str:
    """Hash of the encoder (weights + latent normalisation) inside any bundle (autoencoder run,
    teacher or student): what the cached latents depend on; decoder changes keep them valid."""
    config, states, _ = load_bundle(path)
    digest = hashlib.sha1(json.dumps(to_dict(config.autoencoder), sort_keys=True).encode())
    for key in sorted(k for k in states["autoencoder"] if k.startswith("encoder.")):
        digest.update(key.encode())
        digest.update(states["autoencoder"][key].float().numpy().tobytes())
    return digest.hexdigest()[:10]


def load_autoencoder(path) -> Autoencoder:
    config, states, _ = load_bundle(path)
    (ae,) = bundle_networks(config, states, "autoencoder")
    return ae.eval().requires_grad_(False)


@torch.no_grad()
def encode_images(ae: Autoencoder, images_uint8: np.ndarray, batch: int = 32) -> np.ndarray:
    out = []
    for start in range(0, len(images_uint8), batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            img = to_unit(images_uint8[start:start + batch]).contiguous(memory_format=torch.channels_last)
            out.append(ae.encode(img).float())
    return torch.cat(out).numpy().astype(np.float16)                  # (N, C, h, w)


def subset(clips: list, max_frames: int) -> list:
    """Every k-th clip so that about max_frames frames are kept (all when max_frames is 0)."""
    total = sum(c.n_frames for c in clips)
    if not max_frames or total <= max_frames:
        return clips
    return clips[::-(-total // max_frames)]


def latent_path(clip_dir: Path, tag: str) -> Path:
    return clip_dir / f"latents-{tag}.npy"


def identity_latent_path(root: Path, ident: str, tag: str) -> Path:
    return root / "identities" / f"{ident}.latent-{tag}.npy"


def encode_corpus(corpus_dir: str, ae_checkpoint: str, splits=("train", "val"), threads: int = 2,
                  max_frames: int = 0) -> str:
    """Write missing latent files; returns the tag. Safe to interrupt and rerun.
    max_frames > 0 caches only a spread-out subset of each split's clips (a CPU-time budget)."""
    torch.set_num_threads(threads)
    if not Path(ae_checkpoint).is_file():
        raise InputError(f"autoencoder checkpoint not found: {ae_checkpoint}")
    corpus, tag = open_corpus(corpus_dir), checkpoint_tag(ae_checkpoint)
    ae = load_autoencoder(ae_checkpoint).to(memory_format=torch.channels_last)
    clips = [c for s in splits for c in subset(corpus.split(s), max_frames)]
    for clip in tqdm(clips, desc=f"latents {tag}", dynamic_ncols=True):
        path = latent_path(clip.path, tag)
        if not path.is_file():
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, encode_images(ae, clip.load_frames()))
            tmp.replace(path)
        ident_path = identity_latent_path(corpus.path, clip.identity, tag)
        if not ident_path.is_file():
            np.save(ident_path, encode_images(ae, corpus.identity_image(clip.identity)[None])[0])
    return tag

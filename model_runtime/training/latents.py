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
from avatar.model_runtime.checkpoint import load_bundle, load_into
from avatar.model_runtime.config import to_dict
from avatar.model_runtime.training.corpus_io import open_corpus, to_unit


def checkpoint_tag(path) -> str:
    """Hash of the autoencoder inside any bundle (autoencoder run, teacher or student)."""
    config, states, _ = load_bundle(path)
    digest = hashlib.sha1(json.dumps(to_dict(config.autoencoder), sort_keys=True).encode())
    for key in sorted(states["autoencoder"]):
        digest.update(key.encode())
        digest.update(states["autoencoder"][key].float().numpy().tobytes())
    return digest.hexdigest()[:10]


def load_autoencoder(path) -> Autoencoder:
    config, states, _ = load_bundle(path)
    ae = Autoencoder(config.autoencoder)
    load_into(ae, states["autoencoder"], "autoencoder")
    return ae.eval().requires_grad_(False)


@torch.no_grad()
def encode_images(ae: Autoencoder, images_uint8: np.ndarray, batch: int = 32) -> np.ndarray:
    out = []
    for start in range(0, len(images_uint8), batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out.append(ae.encode(to_unit(images_uint8[start:start + batch])).float())
    return torch.cat(out).numpy().astype(np.float16)                  # (N, C, h, w)


def latent_path(clip_dir: Path, tag: str) -> Path:
    return clip_dir / f"latents-{tag}.npy"


def identity_latent_path(root: Path, ident: str, tag: str) -> Path:
    return root / "identities" / f"{ident}.latent-{tag}.npy"


def encode_corpus(corpus_dir: str, ae_checkpoint: str, splits=("train", "val"), threads: int = 2) -> str:
    """Write missing latent files; returns the tag. Safe to interrupt and rerun."""
    torch.set_num_threads(threads)
    if not Path(ae_checkpoint).is_file():
        raise InputError(f"autoencoder checkpoint not found: {ae_checkpoint}")
    corpus, tag = open_corpus(corpus_dir), checkpoint_tag(ae_checkpoint)
    ae = load_autoencoder(ae_checkpoint)
    clips = [c for s in splits for c in corpus.split(s)]
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

"""Quick held-out check of a bundle: latent error of sampled clips against ground truth,
next to the "copy the portrait" baseline (z_ref) that a model ignoring audio would approach;
and how much the denoiser relies on each condition (its loss when that input is shuffled
across the batch; equal losses = the input is ignored).

python -m avatar.model_runtime.training.validate --corpus DIR --checkpoint FILE [--steps 2 4 16]
"""
import argparse
import dataclasses
import json

import numpy as np
import torch

from avatar.model_runtime.avatar_model import AvatarModel
from avatar.model_runtime.edm import edm_loss
from avatar.model_runtime.samplers import sample_consistency, sample_euler
from avatar.model_runtime.training.clips import LatentClips
from avatar.model_runtime.training.latents import checkpoint_tag


def load(corpus_dir: str, checkpoint: str) -> tuple[AvatarModel, LatentClips]:
    """The bundle and its validation clips (latents cached for the bundle's encoder)."""
    model = AvatarModel.load(checkpoint)
    data = LatentClips.for_model(corpus_dir, checkpoint_tag(checkpoint), "val", model.config.denoiser,
                                 model.config.audio)
    return model, data


@torch.no_grad()
def validate(model: AvatarModel, data: LatentClips, steps=(1, 2, 4, 16), n_clips: int = 8, t: int = 12,
             seed: int = 0) -> dict:
    cfg = model.config
    batch = data.sample(n_clips, t, np.random.default_rng(seed), p_no_motion=0.0, motion_aug=0.0)
    cond = batch.cond(model.audio_tokens, cfg.audio.context_frames)
    noise = torch.randn(batch.z.shape, generator=torch.Generator().manual_seed(seed))
    report = {"baseline_ref_mse": ((batch.ref[:, None] - batch.z) ** 2).mean().item()}
    for k in steps:
        sampler = sample_consistency if str(k) in cfg.student_sigmas or k <= 4 else sample_euler
        out = sampler(model.denoise, noise, model.sigmas(k), cond, torch.Generator().manual_seed(seed))
        report[f"mse_{k}_steps"] = ((out - batch.z) ** 2).mean().item()
    return report


@torch.no_grad()
def reliance(model: AvatarModel, data: LatentClips, n_clips: int = 16, t: int = 8, seed: int = 0,
             sigma_scales=(1.0, 10.0, 100.0)) -> dict:
    """Denoising loss at sigma = scale x sigma_data with each condition intact or shuffled
    (rolled by one across the batch): {"loss_<scale>_<variant>": value}."""
    cfg = model.config
    batch = data.sample(n_clips, t, np.random.default_rng(seed), p_no_motion=0.0, motion_aug=0.0)
    roll = torch.roll(torch.arange(n_clips), 1)
    variants = {"true": batch, "audio_shuffled": dataclasses.replace(batch, wave=batch.wave[roll]),
                "state_shuffled": dataclasses.replace(batch, state=batch.state[roll]),
                "expression_shuffled": dataclasses.replace(batch, expression=batch.expression[roll])}
    conds = {name: b.cond(model.audio_tokens, cfg.audio.context_frames) for name, b in variants.items()}
    out = {}
    for scale in sigma_scales:
        sigma = torch.full((n_clips,), scale * cfg.edm.sigma_data)
        for name, cond in conds.items():
            loss = edm_loss(model.denoise, batch.z, sigma, cond, cfg.edm.sigma_data,
                            torch.Generator().manual_seed(seed))
            out[f"loss_{scale:g}_{name}"] = loss.item()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 16])
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, data = load(args.corpus, args.checkpoint)
    report = validate(model, data, tuple(args.steps))
    report.update(reliance(model, data))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

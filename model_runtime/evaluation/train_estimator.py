"""Train the face-parameter estimator on a corpus train split (CPU, bf16 autocast, minutes).

    avatar eval --train-estimator --corpus DIR --out assets/models/estimator.safetensors
    python -m avatar.model_runtime.evaluation.train_estimator --corpus DIR --out PATH

Loss: smooth-L1 on standardised parameters, plus a cosine-softmax identity loss that shapes
the embedding used for identity drift. The shipped weights are the EMA of the trained ones.
"""
import argparse
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from avatar.model_runtime.evaluation.augment import AugmentConfig, augment
from avatar.model_runtime.evaluation.estimator import EstimatorConfig, FaceEstimator, estimate, save_estimator
from avatar.model_runtime.evaluation.estimator_data import FrameSet, sample_split
from avatar.model_runtime.evaluation.score_estimator import score


@dataclass
class TrainConfig:
    steps: int = 3500
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    frame_stride: int = 4          # every 4th frame: neighbours are near-duplicates
    max_frames: int = 48000        # 48k x 128x128x3 = 2.4 GB of uint8 frames in memory
    eval_stride: int = 2
    reliable_clip_r: float = 0.6   # a parameter is trusted when its within-clip r on val reaches this
    id_weight: float = 0.3
    id_scale: float = 16.0         # cosine-softmax temperature (NormFace)
    ema: float = 0.998
    seed: int = 0
    threads: int = 1              # on a shared 2-core box, 2 OpenMP threads ran 9x slower than 1
    log_every: int = 200
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + np.cos(np.pi * progress))


def train_loop(model: FaceEstimator, data: FrameSet, cfg: TrainConfig, log=print) -> nn.Module:
    """Run cfg.steps AdamW steps; returns the EMA model (BatchNorm statistics averaged too)."""
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    targets = torch.from_numpy((data.targets - model.mean.numpy()) / model.std.numpy())   # (N, P)
    classes = nn.Parameter(torch.randn(len(data.identities), cfg.estimator.embed_dim) * 0.1)
    opt = torch.optim.AdamW([*model.parameters(), classes], lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    ident = torch.from_numpy(data.identity).long()
    model.train()
    t0, running = time.time(), np.zeros(2)
    for step in range(cfg.steps):
        idx = rng.integers(0, len(data.images), cfg.batch)
        x = augment(data.images[idx], cfg.augment, rng, gen)                   # (B, 3, S, S)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z, emb, _ = model(x)
        loss_p = F.smooth_l1_loss(z.float(), targets[idx], beta=0.5)
        logits = cfg.id_scale * emb @ F.normalize(classes, dim=1).T            # (B, n_ids)
        loss_id = F.cross_entropy(logits, ident[idx])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        opt.zero_grad(set_to_none=True)
        (loss_p + cfg.id_weight * loss_id).backward()
        opt.step()
        ema.update_parameters(model)
        running += [loss_p.item(), loss_id.item()]
        if (step + 1) % cfg.log_every == 0:
            running /= cfg.log_every
            log(f"step {step + 1}/{cfg.steps} param {running[0]:.4f} id {running[1]:.3f} "
                f"lr {lr_at(step, cfg):.2e} {time.time() - t0:.0f}s")
            running[:] = 0
    return ema.module.eval()


@torch.no_grad()
def set_appearance_stats(model: FaceEstimator, images: np.ndarray) -> None:
    """Standardise the appearance features by their mean and std over the training frames,
    so that their cosine compares a video to the population, not to the average face."""
    model.app_mean.zero_()
    model.app_std.fill_(1.0)
    feats = estimate(model, images, prepared=True).appearance                 # (N, A)
    model.app_mean.copy_(torch.from_numpy(feats.mean(0)))
    std = feats.std(0)
    # A floor keeps near-dead channels from amplifying noise on frames unlike the training set.
    model.app_std.copy_(torch.from_numpy(std + 0.1 * std.mean()))


def train_estimator(corpus_dir: str, out: str, cfg: TrainConfig, log=print) -> dict:
    """Sample the train split, fit, save fp16 weights to `out`, score the test split.

    Returns the report (also written next to `out` as <out>.report.json).
    """
    from avatar.model_runtime.corpus.reader import open_corpus
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    corpus = open_corpus(corpus_dir)
    t0 = time.time()
    size, crop = cfg.estimator.input_size, cfg.estimator.crop
    data = sample_split(corpus.split("train"), size, crop, cfg.frame_stride, cfg.max_frames, cfg.seed, log)
    log(f"train frames: {len(data.images)} from {len(np.unique(data.clip))} clips, "
        f"{len(data.identities)} identities ({time.time() - t0:.0f}s)")
    est_cfg = replace(cfg.estimator, target_mean=tuple(map(float, data.targets.mean(0))),
                      target_std=tuple(float(s) + 1e-6 for s in data.targets.std(0)))
    model = FaceEstimator(est_cfg).to(memory_format=torch.channels_last)
    t1 = time.time()
    model = train_loop(model, data, replace(cfg, estimator=est_cfg), log)
    train_s = time.time() - t1
    set_appearance_stats(model, data.images)
    del data
    # Which parameters the estimator tracks on unseen identities is decided on val, not test.
    val = score(model, corpus.split("val"), cfg.eval_stride, log=None)
    model.cfg = replace(model.cfg, reliable=tuple(n for n, a in val["clean"].items()
                                                  if (a["clip_r"] or 0.0) >= cfg.reliable_clip_r))
    log(f"reliable on val (clip r >= {cfg.reliable_clip_r}): {', '.join(model.cfg.reliable)}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_estimator(model, out)
    report = score(model, corpus.split("test"), cfg.eval_stride, log=log)
    report["val"] = val
    report["train"] = {"seconds": round(train_s), "config": asdict(cfg), "corpus": str(corpus_dir),
                       "params": sum(p.numel() for p in model.parameters()), "reliable": model.cfg.reliable}
    Path(f"{out}.report.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train the face-parameter estimator")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--max-frames", type=int, default=TrainConfig.max_frames)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    args = parser.parse_args(argv)
    cfg = TrainConfig(steps=args.steps, max_frames=args.max_frames, seed=args.seed)
    train_estimator(args.corpus, args.out, cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

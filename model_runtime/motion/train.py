"""`avatar train motion`: EDM training of the motion generator on the motion corpus.

Per step: a clip length T (1..16, short ones often: the first clip after a start is 1-2 frames,
LLIA), a batch of windows with their K ground-truth history frames (noise-augmented, dropped at
starts), log-normal noise levels and the EDM loss. AdamW, EMA weights, resumable state; the EMA
network is written as RUN_DIR/model.safetensors at every checkpoint.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch

from avatar.model_runtime.avatar_model import default_checkpoint
from avatar.model_runtime.edm import sample_sigma
from avatar.model_runtime.training.loop import EMA, LoopConfig, Run, warmup_lr

from .checkpoint import audio_encoder_from, save_motion
from .data import MotionArrays, MotionBatch, load_arrays, motion_stats, sample_batch
from .model import MotionConfig, MotionDenoiser, MotionNet, motion_loss

VAL_FRAMES = (1, 4, 16)          # clip lengths of the fixed validation batches
VAL_EVERY = 250


def sample_frames(rng: np.random.Generator, max_frames: int) -> int:
    """Clip length T: a third of the batches are 1-2 frames (first clips), the rest 1..max."""
    return int(rng.integers(1, 3)) if rng.random() < 1 / 3 else int(rng.integers(1, max_frames + 1))


def time_decay(run: Run) -> float:
    """LR factor: 1, then linear down to 0.1 over the last 30 % of a --minutes budget (fine
    temporal detail settles at a lower rate; EMA alone kept the samples jittery)."""
    if not run.cfg.minutes:
        return 1.0
    frac = (time.monotonic() - run.start) / (run.cfg.minutes * 60)
    return 1.0 if frac < 0.7 else max(0.1, 1.0 - 3.0 * (frac - 0.7))


def autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def batch_loss(denoiser: MotionDenoiser, batch: MotionBatch, sigma, generator=None) -> torch.Tensor:
    ctx = denoiser.net.context(batch.tokens, batch.state, batch.expr, batch.hist, batch.hist_valid)
    return motion_loss(denoiser, batch.target, sigma, ctx, generator)


def set_stats(net: MotionNet, stats: dict) -> None:
    for name, value in stats.items():
        getattr(net, name).copy_(torch.from_numpy(np.asarray(value, np.float32)))


def net_stats(net: MotionNet) -> dict:
    return {n: getattr(net, n).numpy() for n in ("target_mean", "target_std", "hist_mean", "hist_std")}


def fixed_batches(data: MotionArrays, net: MotionNet, batch: int, seed: int = 1234) -> list:
    """Validation batches and noise levels, the same at every evaluation."""
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    out = []
    for frames in sorted({min(f, net.cfg.max_frames) for f in VAL_FRAMES}):
        b = sample_batch(data, net_stats(net), batch, frames, net.cfg.motion_frames, rng, net.cfg.history_noise)
        out.append((b, sample_sigma(batch, net.cfg.edm, gen), torch.Generator().manual_seed(seed + frames)))
    return out


@torch.no_grad()
def validation_loss(denoiser: MotionDenoiser, batches: list) -> float:
    losses = [batch_loss(denoiser, b, s, torch.Generator().manual_seed(g.initial_seed())) for b, s, g in batches]
    return float(np.mean([x.item() for x in losses]))


def train_motion(corpus: str, loop: LoopConfig, audio_checkpoint: str | None = None,
                 cfg: MotionConfig | None = None, bf16: bool = False, limit: int = 0) -> dict:
    """Train (or resume) in loop.out; returns the last losses. ``limit``: first N clips per split
    (tests)."""
    torch.manual_seed(loop.seed)
    torch.set_num_threads(loop.threads)
    run = Run(loop)
    audio = audio_encoder_from(audio_checkpoint or default_checkpoint())
    data = load_arrays(corpus, "train", audio, limit)
    val = load_arrays(corpus, "val", audio, limit)
    state = run.load_state()
    cfg = state["config"] if state else (cfg or MotionConfig())
    net = MotionNet(cfg)
    set_stats(net, motion_stats(data))
    denoiser = MotionDenoiser(net)
    opt = torch.optim.AdamW(net.parameters(), lr=loop.lr, betas=(0.9, 0.99), weight_decay=0.01)
    ema = EMA(net, loop.ema)
    if state:
        net.load_state_dict(state["net"])
        ema.module.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
    run.log(f"train motion: {len(data)} train clips ({len(data.state)} frames), {len(val)} val clips, "
            f"{sum(p.numel() for p in net.parameters())} parameters, config {cfg}")
    val_batches = fixed_batches(val, net, 64)
    if not state:
        run.log(f"step 0 val_loss(ema)={validation_loss(MotionDenoiser(ema.module), val_batches):.4f}")
    rng = np.random.default_rng([loop.seed, run.step])
    gen = torch.Generator().manual_seed(loop.seed * 100003 + run.step)

    def save() -> None:
        run.save_state({"config": cfg, "net": net.state_dict(), "ema": ema.module.state_dict(),
                        "opt": opt.state_dict()})
        save_motion(run.dir / "model.safetensors", ema.module, audio, {"step": run.step})

    losses: dict = {}
    try:
        while not run.done():
            frames = sample_frames(rng, cfg.max_frames)
            batch = sample_batch(data, net_stats(net), loop.batch, frames, cfg.motion_frames, rng,
                                 cfg.history_noise)
            sigma = sample_sigma(loop.batch, cfg.edm, gen)
            with autocast(bf16):
                loss = batch_loss(denoiser, batch, sigma, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            for group in opt.param_groups:
                group["lr"] = warmup_lr(run.step, loop.lr) * time_decay(run)
            opt.step()
            ema.update(net)
            losses = {"loss": loss.item(), "grad": float(grad), "T": frames}
            run.tick(losses)
            if run.step % VAL_EVERY == 0:
                losses["val"] = validation_loss(MotionDenoiser(ema.module), val_batches)
                run.log(f"step {run.step} val_loss(ema)={losses['val']:.4f}")
            if run.should_save():
                save()
        losses["val"] = validation_loss(MotionDenoiser(ema.module), val_batches)
        run.log(f"end at step {run.step} val_loss(ema)={losses['val']:.4f}")
        save()
    finally:
        run.close()
    return {k: float(v) for k, v in losses.items()}

"""Train the reference-conditioned autoencoder on corpus frames (`avatar train autoencoder`)."""
import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from avatar.core.errors import InputError
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.checkpoint import save_bundle
from avatar.model_runtime.config import AutoencoderConfig, BundleConfig
from avatar.model_runtime.training.corpus_io import Corpus, open_corpus, to_unit
from avatar.model_runtime.training.latents import load_autoencoder
from avatar.model_runtime.training.loop import EMA, LoopConfig, Run, cleanup_distributed, setup_distributed, \
    warmup_lr

LATENT_NOISE = 0.1    # decoder sees slightly noisy latents: the denoiser's outputs are never exact
CHANGE_WEIGHT = 20.0  # extra loss weight per unit of |frame - portrait| (in [-1, 1] units)
REF_DROP = 0.5        # fraction of samples decoded with a blank portrait (see ae_loss)
MAX_CLIPS = 80        # clips decoded into the frame pool (decoding every clip took minutes)


class FramePool:
    """Frames of a split held in RAM (uint8) with the index of their identity's portrait."""

    def __init__(self, corpus: Corpus, split: str, max_frames: int, seed: int):
        clips = corpus.split(split)
        if not clips:
            raise InputError(f"corpus {corpus.path} has no clips in split {split!r}")
        rng = np.random.default_rng(seed)
        rng.shuffle(clips)
        clips = clips[:MAX_CLIPS]
        per_clip = max(1, max_frames // len(clips))
        idents, frames, owner = {}, [], []
        for clip in clips:
            video = clip.load_frames()
            pick = rng.choice(len(video), size=min(per_clip, len(video)), replace=False)
            frames.append(video[np.sort(pick)])
            owner += [idents.setdefault(clip.identity, len(idents))] * len(pick)
            if sum(len(f) for f in frames) >= max_frames:
                break
        self.frames = np.concatenate(frames)                                 # (N,H,W,3)
        self.owner = np.asarray(owner)
        self.refs = np.stack([corpus.identity_image(i) for i in idents])    # (I,H,W,3)

    def batch(self, n: int, rng: np.random.Generator, crop: int = 0):
        """n random frames and their portraits, optionally the same random crop of both
        (multiples of 8 so latent cells stay aligned): 4x cheaper steps at crop = size/2."""
        idx = rng.integers(0, len(self.frames), n)
        frames, refs = self.frames[idx], self.refs[self.owner[idx]]
        if crop:
            y, x = (rng.integers(0, (frames.shape[1] - crop) // 8 + 1, 2) * 8).tolist()
            frames, refs = frames[:, y:y + crop, x:x + crop], refs[:, y:y + crop, x:x + crop]
        return to_unit(frames), to_unit(refs)


def psnr_ssim(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM (Wang et al. 2004, 11x11 Gaussian, on luma) of images in [-1,1]."""
    a01, b01 = (a.clamp(-1, 1) + 1) / 2, (b.clamp(-1, 1) + 1) / 2
    mse = ((a01 - b01) ** 2).flatten(1).mean(1)
    psnr = (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    x, y = (a01 * luma).sum(1, keepdim=True), (b01 * luma).sum(1, keepdim=True)
    g = torch.exp(-(torch.arange(11) - 5.0) ** 2 / (2 * 1.5 ** 2))
    win = (g[:, None] * g[None, :] / g.sum() ** 2).view(1, 1, 11, 11)
    blur = lambda t: F.conv2d(t, win)                                        # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return psnr, ssim.mean().item()


@torch.no_grad()
def evaluate(ae: Autoencoder, pool: FramePool, n: int = 64) -> dict:
    rng = np.random.default_rng(123)
    img, ref = pool.batch(n, rng)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, rec = ae(img, ref)
    psnr, ssim = psnr_ssim(rec.float(), img)
    return {"psnr": psnr, "ssim": ssim}


@torch.no_grad()
def latent_stats(ae: Autoencoder, pool: FramePool, n: int = 256) -> tuple[float, float]:
    img, _ = pool.batch(n, np.random.default_rng(7))
    z = torch.cat([ae.encoder(chunk).float() for chunk in img.split(32)])
    return z.mean().item(), z.std().item()


def ae_loss(model, img, ref, gen):
    """L1, weighted up where the frame differs from the portrait, with reference dropout.

    Without both, the first trained autoencoder collapsed: copying the portrait gives a
    low loss (most pixels are static), so the encoder stopped carrying mouth and head
    motion and the decoder ignored the latent (|dec(z) - dec(z_ref)| = 3e-4 after 1,200
    steps). Decoding half of the samples with a blank portrait forces the latent to hold
    the whole frame; the portrait then only adds detail."""
    keep = (torch.rand(img.shape[0], 1, 1, 1, generator=gen) >= REF_DROP).to(img.dtype)
    z, rec = model(img, (ref * keep).contiguous(memory_format=torch.channels_last), LATENT_NOISE, gen)
    err = (rec.float() - img).abs()
    weight = 1 + CHANGE_WEIGHT * (img - ref).abs().mean(1, keepdim=True)
    return (weight * err).mean(), err.mean()


def train_autoencoder(corpus_dir: str, loop: LoopConfig, max_frames: int = 8000, init: str | None = None,
                      freeze_encoder: bool = False) -> dict:
    """init: start from a bundle's autoencoder; freeze_encoder: train only the decoder side,
    so latents cached with that bundle stay valid (their tag hashes the encoder only)."""
    rank, world = setup_distributed()
    torch.set_num_threads(loop.threads)
    torch.manual_seed(loop.seed + rank)
    corpus = open_corpus(corpus_dir)
    run = Run(loop, rank)
    ae = load_autoencoder(init).train().requires_grad_(True) if init else \
        Autoencoder(AutoencoderConfig(size=int(corpus.meta["size"])))
    ae.encoder.requires_grad_(not freeze_encoder)
    ema = EMA(ae, loop.ema)
    opt = torch.optim.AdamW([p for p in ae.parameters() if p.requires_grad], lr=loop.lr, weight_decay=0.0)
    state = run.load_state()
    if state:
        ae.load_state_dict(state["model"])
        ema.module.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
    train_pool = FramePool(corpus, "train", max_frames // world, loop.seed + rank)
    val_pool = FramePool(corpus, "val", 512, 0) if corpus.split("val") else train_pool
    run.log(f"autoencoder: {sum(p.numel() for p in ae.parameters())} params, {len(train_pool.frames)} frames")
    ae.to(memory_format=torch.channels_last)      # oneDNN's fast bf16 conv layout
    model = DDP(ae) if world > 1 else ae
    rng, gen = np.random.default_rng(loop.seed + rank), torch.Generator().manual_seed(loop.seed + rank)
    while not run.done():
        for group in opt.param_groups:
            group["lr"] = warmup_lr(run.step, loop.lr)
        img, ref = (t.contiguous(memory_format=torch.channels_last)
                    for t in train_pool.batch(loop.batch, rng, crop=int(corpus.meta["size"]) // 2))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, l1 = ae_loss(model, img, ref, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        ema.update(ae)
        run.tick({"loss": loss.item(), "l1": l1.item()})
        if run.should_save():
            finish_autoencoder(run, ae, ema, opt, train_pool, val_pool, not freeze_encoder)
    metrics = finish_autoencoder(run, ae, ema, opt, train_pool, val_pool, not freeze_encoder) if rank == 0 else {}
    run.close()
    cleanup_distributed()
    return metrics


def finish_autoencoder(run: Run, ae, ema: EMA, opt, train_pool: FramePool, val_pool: FramePool,
                       renormalise: bool = True) -> dict:
    """Save resumable state and a bundle of the EMA weights with measured latent normalisation."""
    run.save_state({"model": ae.state_dict(), "ema": ema.module.state_dict(), "opt": opt.state_dict()})
    if renormalise:                   # a frozen encoder keeps its normalisation (and cached latents)
        mean, std = latent_stats(ema.module, train_pool)
        ema.module.cfg.latent_shift, ema.module.cfg.latent_scale = mean, 1.0 / max(std, 1e-6)
    mean, std = ema.module.cfg.latent_shift, 1.0 / ema.module.cfg.latent_scale
    metrics = evaluate(ema.module, val_pool)
    save_bundle(run.dir / "model.safetensors", {"autoencoder": ema.module},
                BundleConfig(autoencoder=ema.module.cfg), extra={"step": run.step, "val": metrics})
    run.log(f"saved step {run.step} val psnr={metrics['psnr']:.2f} ssim={metrics['ssim']:.4f} "
            f"latent mean={mean:.3f} std={std:.3f}")
    return metrics

"""Consistency distillation of the teacher into a 1/2/4-step student (`avatar distill`).

LCM-style consistency distillation (Song et al. 2023, Algorithm 2; Luo et al. 2023):
on a Karras grid s_0 > ... > s_{N-1}, the student at (x_n, s_n) must match an EMA copy
of itself at the point one teacher Heun step further along the ODE, (x̂_{n+1}, s_{n+1}).
The student starts as the teacher; the audio encoder stays the teacher's (frozen).
"""
import copy

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.checkpoint import bundle_networks, load_bundle, save_bundle
from avatar.model_runtime.conditioning import Cond, Denoiser
from avatar.model_runtime.edm import karras_sigmas
from avatar.model_runtime.samplers import sample_consistency
from avatar.model_runtime.training.clips import ClipBatch, LatentClips
from avatar.model_runtime.training.latents import checkpoint_tag
from avatar.model_runtime.training.loop import EMA, LoopConfig, Run, cleanup_distributed, setup_distributed, \
    warmup_lr

GRID = 32            # N discretisation points of the teacher ODE
TARGET_EMA = 0.95    # LCM's target-network decay
HUBER_C = 0.03


def pseudo_huber(a, b, scale: float, pixel_weight=None):
    """Pseudo-Huber distance; ``pixel_weight`` (B,1,1,h,w), mean 1, as in the teacher's loss."""
    d = ((a.float() - b.float()) / scale) ** 2
    err = torch.sqrt(d + HUBER_C ** 2) - HUBER_C
    return (err if pixel_weight is None else err * pixel_weight).mean()


class Distiller(nn.Module):
    def __init__(self, teacher: Denoiser, audio: AudioEncoder):
        super().__init__()
        self.teacher = teacher.eval().requires_grad_(False)
        self.audio = audio.eval().requires_grad_(False)
        self.student = copy.deepcopy(teacher).train().requires_grad_(True)

    @torch.no_grad()
    def cond(self, batch: ClipBatch) -> Cond:
        return batch.cond(self.audio, self.audio.cfg.context_frames)

    def forward(self, batch: ClipBatch, target: Denoiser, grid, n, generator=None):
        cond = self.cond(batch)
        s_n, s_next = grid[n], grid[n + 1]                                     # (B,), (B,)
        noise = torch.randn(batch.z.shape, generator=generator)
        x_n = batch.z + s_n.view(-1, 1, 1, 1, 1) * noise
        with torch.no_grad():
            x_hat = self.teacher_step(x_n, s_n, s_next, cond)
            want = target(x_hat, s_next, cond)
        return pseudo_huber(self.student(x_n, s_n, cond), want, self.teacher.sigma_data, batch.weight)


    def teacher_step(self, x, s, s_next, cond):
        """Heun step of the probability-flow ODE with a per-sample sigma (B,), s_next > 0
        (samplers.heun_step is the scalar-sigma version used at inference)."""
        sv, nv = s.view(-1, 1, 1, 1, 1), s_next.view(-1, 1, 1, 1, 1)
        d = (x - self.teacher(x, s, cond)) / sv
        x_next = x + (nv - sv) * d
        d2 = (x_next - self.teacher(x_next, s_next, cond)) / nv
        return x + (nv - sv) * 0.5 * (d + d2)


@torch.no_grad()
def choose_schedules(student: Denoiser, audio: AudioEncoder, data: LatentClips, edm, seed: int = 0):
    """Pick the intermediate sigmas of the 2- and 4-step schedules by latent error on sampled clips.
    -> (schedules {"1": [...], "2": [...], "4": [...]}, errors per step count)."""
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    batch = data.sample(8, 8, rng, p_no_motion=0.0, motion_aug=0.0)
    cond = batch.cond(audio, audio.cfg.context_frames)
    noise = torch.randn(batch.z.shape, generator=gen)

    def err(sigmas):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = sample_consistency(student, noise, torch.tensor(sigmas), cond,
                                     torch.Generator().manual_seed(seed))
        return ((out - batch.z) ** 2).mean().item()

    top, sd = edm.sigma_max, edm.sigma_data
    mids = [sd * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    best = min(mids, key=lambda s: err([top, s, 0.0]))
    four = [top, 4 * best, best, best / 4, 0.0]
    schedules = {"1": [top, 0.0], "2": [top, best, 0.0], "4": four}
    return schedules, {k: err(v) for k, v in schedules.items()}


def distill(corpus_dir: str, teacher_checkpoint: str, loop: LoopConfig, mouth_weight: float = 0.0) -> dict:
    rank, world = setup_distributed()
    torch.set_num_threads(loop.threads)
    torch.manual_seed(loop.seed)
    run = Run(loop, rank)
    config, states, _ = load_bundle(teacher_checkpoint)
    audio, teacher = bundle_networks(config, states, "audio", "denoiser")
    tag = checkpoint_tag(teacher_checkpoint)
    data = LatentClips.for_model(corpus_dir, tag, "train", config.denoiser, config.audio)
    model = Distiller(teacher, audio)
    target, ema = EMA(model.student, TARGET_EMA), EMA(model.student, loop.ema)
    opt = torch.optim.AdamW(model.student.parameters(), lr=loop.lr, weight_decay=0.0)
    state = run.load_state()
    if state:
        model.student.load_state_dict(state["student"])
        target.module.load_state_dict(state["target"])
        ema.module.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
    grid = karras_sigmas(GRID, config.edm)[:-1]                                 # (N,) no trailing zero
    wrapped = DDP(model) if world > 1 else model
    rng, gen = np.random.default_rng(loop.seed + 1000 * rank + run.step), torch.Generator().manual_seed(loop.seed + rank)
    last = {}
    while not run.done():
        for group in opt.param_groups:
            group["lr"] = warmup_lr(run.step, loop.lr, warmup=50)
        t = int(rng.integers(1, 17))
        batch = data.sample(max(1, loop.batch // t), t, rng, motion_aug=0.5 * config.edm.sigma_data,
                            mouth_weight=mouth_weight)
        n = torch.from_numpy(rng.integers(0, GRID - 1, batch.z.shape[0]))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = wrapped(batch, target.module, grid, n, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.student.parameters(), 1.0)
        opt.step()
        target.update(model.student)
        ema.update(model.student)
        last = {"loss": loss.item(), "T": float(t)}
        run.tick(last)
        if run.should_save():
            run.save_state({"student": model.student.state_dict(), "target": target.module.state_dict(),
                            "ema": ema.module.state_dict(), "opt": opt.state_dict()})
    if rank == 0:
        run.save_state({"student": model.student.state_dict(), "target": target.module.state_dict(),
                        "ema": ema.module.state_dict(), "opt": opt.state_dict()})
        config.student_sigmas, errors = choose_schedules(ema.module, audio, data, config.edm)
        config.kind = "student"
        save_bundle(run.dir / "model.safetensors", {"autoencoder": states["autoencoder"], "audio": audio,
                                                   "denoiser": ema.module.net}, config,
                    extra={"step": run.step, "last": last, "latent_mse": errors})
        run.log(f"saved student step {run.step} schedules {config.student_sigmas} latent mse {errors}")
    run.close()
    cleanup_distributed()
    return last

"""`avatar distill motion`: consistency distillation of the motion teacher (Song et al. 2023,
"Consistency Models", Algorithm 2, as LLIA uses it).

On a Karras grid s_0 > ... > s_{N-1} (sigma_max .. sigma_min), for a clean clip y and noise n:
x_n = y + s_n n; one Heun step of the frozen teacher's probability-flow ODE gives x̂_{n+1} at
s_{n+1}; the student at (x_n, s_n) must match an EMA copy of itself (the target network) at
(x̂_{n+1}, s_{n+1}). EDM's c_skip -> 1 at sigma_min gives the boundary condition. The student
starts as the teacher and keeps its conditioning; it is sampled with ``sample_consistency`` on
the schedules in ``STUDENT_SIGMAS`` (stored in its config).
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from avatar.model_runtime.edm import karras_sigmas
from avatar.model_runtime.training.distill import pseudo_huber
from avatar.model_runtime.training.loop import EMA, LoopConfig, Run, warmup_lr

from .checkpoint import load_motion, save_motion
from .data import MotionBatch, load_arrays, sample_batch
from .model import MotionDenoiser
from .train import net_stats, sample_frames

GRID = 40              # N points of the teacher ODE grid
TARGET_EMA = 0.95      # the target network's decay (LCM)
# Sigmas of the 1-, 2- and 4-step student (normalised motion, sigma_data 1): jump from
# sigma_max, re-noise to the intermediate levels (Song et al.'s 2-step CIFAR choice scaled to
# sigma_data 1 is ~1.6).
STUDENT_SIGMAS = {"1": [80.0, 0.0], "2": [80.0, 1.5, 0.0], "4": [80.0, 5.0, 1.5, 0.4, 0.0]}


def teacher_heun(teacher: MotionDenoiser, x, s, s_next, ctx):
    """One Heun step of the probability-flow ODE with per-sample sigmas (B,), s_next > 0
    (samplers.heun_step is the scalar-sigma version used at inference)."""
    sv, nv = s.view(-1, 1, 1), s_next.view(-1, 1, 1)
    d = (x - teacher(x, s, ctx)) / sv
    x_next = x + (nv - sv) * d
    d2 = (x_next - teacher(x_next, s_next, ctx)) / nv
    return x + (nv - sv) * 0.5 * (d + d2)


def context(denoiser: MotionDenoiser, b: MotionBatch):
    return denoiser.net.context(b.tokens, b.state, b.expr, b.hist, b.hist_valid)


def curvature_error(out, y):
    """Mean squared error of the second temporal difference of a clean estimate (B,T,dim)
    against the ground truth's; 0 for clips shorter than 3 frames."""
    if out.shape[1] < 3:
        return out.new_zeros(())
    d2 = lambda z: z[:, 2:] - 2 * z[:, 1:-1] + z[:, :-2]                    # noqa: E731
    return ((d2(out.float()) - d2(y)) ** 2).mean()


def consistency_loss(student: MotionDenoiser, teacher: MotionDenoiser, target: MotionDenoiser,
                     b: MotionBatch, grid, n, generator=None, smooth: float = 0.0):
    """Algorithm 2's loss for a batch at grid indices n (B,) (n + 1 < len(grid)), plus
    ``smooth`` x the curvature error of the student's estimate against the ground truth: the
    causal teacher's samples jitter frame to frame (docs/MODEL.md), and this pulls the
    student's high frequencies toward the data's instead of the teacher's."""
    s_n, s_next = grid[n], grid[n + 1]
    x_n = b.target + s_n.view(-1, 1, 1) * torch.randn(b.target.shape, generator=generator)
    with torch.no_grad():
        x_hat = teacher_heun(teacher, x_n, s_n, s_next, context(teacher, b))
        want = target(x_hat, s_next, context(target, b))
    out = student(x_n, s_n, context(student, b))
    return pseudo_huber(out, want, student.sigma_data) + smooth * curvature_error(out, b.target)


def distill_motion(corpus: str, teacher_path: str, loop: LoopConfig, smooth: float = 0.0) -> dict:
    torch.manual_seed(loop.seed)
    torch.set_num_threads(loop.threads)
    run = Run(loop)
    teacher_net, audio, _ = load_motion(teacher_path)
    teacher = MotionDenoiser(teacher_net)
    student_net = copy.deepcopy(teacher_net).train().requires_grad_(True)
    student_net.cfg = copy.deepcopy(teacher_net.cfg)
    student_net.cfg.kind, student_net.cfg.student_sigmas = "student", dict(STUDENT_SIGMAS)
    student = MotionDenoiser(student_net)
    target = EMA(student_net, TARGET_EMA)
    opt = torch.optim.AdamW(student_net.parameters(), lr=loop.lr, betas=(0.9, 0.99), weight_decay=0.0)
    state = run.load_state()
    if state:
        student_net.load_state_dict(state["student"])
        target.module.load_state_dict(state["target"])
        opt.load_state_dict(state["opt"])
    data = load_arrays(corpus, "train", audio)
    grid = karras_sigmas(GRID, teacher_net.cfg.edm)[:-1]                  # (N,) s_0 = sigma_max
    cfg = student_net.cfg
    run.log(f"distill motion from {teacher_path}: grid {GRID}, target EMA {TARGET_EMA}, smooth {smooth}, "
            f"schedules {STUDENT_SIGMAS}")
    rng = np.random.default_rng([loop.seed, run.step])
    gen = torch.Generator().manual_seed(loop.seed * 100003 + run.step)

    def save() -> None:
        run.save_state({"student": student_net.state_dict(), "target": target.module.state_dict(),
                        "opt": opt.state_dict()})
        save_motion(run.dir / "model.safetensors", target.module, audio, {"step": run.step, "teacher": str(teacher_path)})

    losses: dict = {}
    try:
        while not run.done():
            frames = sample_frames(rng, cfg.max_frames)
            b = sample_batch(data, net_stats(teacher_net), loop.batch, frames, cfg.motion_frames, rng,
                             cfg.history_noise)
            n = torch.from_numpy(rng.integers(0, GRID - 1, loop.batch))
            loss = consistency_loss(student, teacher, MotionDenoiser(target.module), b, grid, n, gen, smooth)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = torch.nn.utils.clip_grad_norm_(student_net.parameters(), 1.0)
            for group in opt.param_groups:
                group["lr"] = warmup_lr(run.step, loop.lr, warmup=50)
            opt.step()
            target.update(student_net)
            losses = {"loss": loss.item(), "grad": float(grad), "T": frames}
            run.tick(losses)
            if run.should_save():
                save()
        save()
        if not run.stop_signal:
            pick_schedules(corpus, audio, teacher_path, run, target.module)
            save()
    finally:
        run.close()
    return {k: float(v) for k, v in losses.items()}


def pick_schedules(corpus: str, audio, teacher_path: str, run: Run, student_net, clips: int = 24) -> None:
    """Set the student's 2- and 4-step schedules to the best of schedule.CANDIDATES on val clips."""
    from .generator import MotionGenerator
    from .schedule import choose_schedules, subset

    data = subset(load_arrays(corpus, "val", audio), clips)
    student = MotionGenerator(copy.deepcopy(student_net).eval(), audio)
    chosen, _ = choose_schedules(student, MotionGenerator.load(teacher_path), data, log=run.log)
    student_net.cfg.student_sigmas = chosen
    run.log(f"student schedules {chosen}")

"""Train the audio encoder + denoiser teacher with the EDM objective (`avatar train denoiser`)."""
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.checkpoint import load_bundle, load_into, save_bundle
from avatar.model_runtime.conditioning import Cond, Denoiser
from avatar.model_runtime.config import AudioConfig, BundleConfig, DenoiserConfig, EDMConfig
from avatar.model_runtime.denoiser import DenoiserUNet
from avatar.model_runtime.edm import denoise_noised, sample_sigma, weighted_error
from avatar.model_runtime.training.clips import ClipBatch, LatentClips
from avatar.model_runtime.training.face_probe import LatentFaceProbe, masked_standardised_mse, train_face_probe
from avatar.model_runtime.training.latents import checkpoint_tag, encode_corpus
from avatar.model_runtime.training.loop import EMA, LoopConfig, Run, cleanup_distributed, setup_distributed, \
    warmup_lr

FIXED_T_STEPS = 1000   # clip length is fixed (8) first, then variable 1-16 (LLIA's schedule)
MAX_T = 16
# Motion frames are the strongest cue for the next frame (pose, blinks, gaze carry over), so
# they are often dropped and heavily noised: otherwise the net leans on them and ignores the
# audio (teacher3: 0.15 / 0.5 sigma_data, and the audio made no difference to its loss).
P_NO_MOTION = 0.3
MOTION_AUG = 1.0         # x sigma_data: motion-frame noise std ~ U(0, this)


class Teacher(nn.Module):
    """Audio encoder + preconditioned denoiser, trained together (one module for DDP)."""

    def __init__(self, audio_cfg: AudioConfig, den_cfg: DenoiserConfig, sigma_data: float):
        super().__init__()
        self.audio = AudioEncoder(audio_cfg)
        self.denoiser = Denoiser(DenoiserUNet(den_cfg), sigma_data)

    def cond(self, batch: ClipBatch) -> Cond:
        return batch.cond(self.audio, self.audio.cfg.context_frames)

    def forward(self, batch: ClipBatch, sigma, generator=None):
        """(denoising loss, the denoised clip (B,T,C,h,w), the audio tokens (B,T,D) it was conditioned on)."""
        cond = self.cond(batch)
        denoised = denoise_noised(self.denoiser, batch.z, sigma, cond, generator)
        loss = weighted_error(denoised, batch.z, sigma, self.denoiser.sigma_data, batch.weight)
        return loss, denoised, cond.audio


class MouthProbe(nn.Module):
    """Auxiliary head: gt mouth opening and width from the audio tokens (training only).

    The denoiser alone learned to ignore the audio (its loss did not change when the audio
    was shuffled): the mouth is a small part of the frame and the tokens barely differed
    between clips. Supervising the tokens with the corpus' mouth ground truth makes them
    carry the mouth shape, which the denoiser can then pick up. Not part of the bundle.
    """

    def __init__(self, dim: int, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 2))
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def loss(self, tokens, mouth_gt):                           # (B,T,D), (B,T,2) -> scalar
        return masked_standardised_mse(self.head(tokens.float()), mouth_gt, self.mean, self.std)


def _face_probe(data: LatentClips, state: dict | None, run: Run, seed: int) -> LatentFaceProbe:
    """The frozen face probe: from the run's state when resuming (the same probe throughout a
    run), else trained now on the run's clips (a few minutes on one core)."""
    if state and state.get("face_probe"):
        face = LatentFaceProbe.for_clips(data)
        face.load_state_dict(state["face_probe"])
        return face.eval().requires_grad_(False)
    return train_face_probe(data, seed=seed, log=run.log)[0]


def clip_length(step: int, rng: np.random.Generator) -> int:
    return 8 if step < FIXED_T_STEPS else int(rng.integers(1, MAX_T + 1))


def train_denoiser(corpus_dir: str, ae_checkpoint: str, loop: LoopConfig, den_cfg: DenoiserConfig | None = None,
                   audio_cfg: AudioConfig | None = None, latent_frames: int = 0, mouth_weight: float = 0.0,
                   audio_aux: float = 0.0, init: str | None = None, face_aux: float = 0.0) -> dict:
    """``init``: a bundle (e.g. the shipped checkpoint) whose configs and audio/denoiser weights
    a new run starts from, with a fresh optimiser; ignored when resuming. ``face_aux`` > 0 adds
    the frozen face probe's loss on the denoised clip (face_probe.py), with that weight."""
    rank, world = setup_distributed()
    torch.set_num_threads(loop.threads)
    torch.manual_seed(loop.seed)           # identical initial weights on every rank
    if rank == 0:
        encode_corpus(corpus_dir, ae_checkpoint, threads=loop.threads, max_frames=latent_frames)
    if world > 1:
        dist.barrier()
    run = Run(loop, rank)
    state = run.load_state()
    start = load_bundle(init) if init and not state else None
    if start:
        den_cfg, audio_cfg = start[0].denoiser, start[0].audio
    den_cfg = den_cfg or DenoiserConfig()
    audio_cfg = audio_cfg or AudioConfig()
    ae_cfg, ae_states, _ = load_bundle(ae_checkpoint)
    data = LatentClips.for_model(corpus_dir, checkpoint_tag(ae_checkpoint), "train", den_cfg, audio_cfg)
    sigma_data = state["sigma_data"] if state else start[0].edm.sigma_data if start else data.residual_std()
    edm = EDMConfig(sigma_data=sigma_data)
    teacher = Teacher(audio_cfg, den_cfg, sigma_data)
    if start:
        load_into(teacher.audio, start[1]["audio"], "audio encoder")
        load_into(teacher.denoiser.net, start[1]["denoiser"], "denoiser")
        run.log(f"initialised from {init}")
    ema = EMA(teacher, loop.ema)
    opt = torch.optim.AdamW(teacher.parameters(), lr=loop.lr, weight_decay=0.01)
    probe = MouthProbe(audio_cfg.dim, *(v[:2] for v in data.face_stats()))
    probe_opt = torch.optim.AdamW(probe.parameters(), lr=loop.lr)
    if state:
        teacher.load_state_dict(state["model"])
        ema.module.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        if "probe" in state:                 # runs from before the probe existed resume without it
            probe.load_state_dict(state["probe"])
            probe_opt.load_state_dict(state["probe_opt"])
    face = _face_probe(data, state, run, loop.seed) if face_aux > 0 else None
    run.log(f"denoiser: {sum(p.numel() for p in teacher.parameters())} params, {len(data)} clips, "
            f"sigma_data={sigma_data:.4f}, world={world}, mouth_weight={mouth_weight:g}, audio_aux={audio_aux:g}, "
            f"face_aux={face_aux:g}")
    teacher.to(memory_format=torch.channels_last)
    model = DDP(teacher) if world > 1 else teacher
    rng, gen = np.random.default_rng(loop.seed + 1000 * rank + run.step), torch.Generator().manual_seed(loop.seed + rank)
    bundle = BundleConfig(autoencoder=ae_cfg.autoencoder, audio=audio_cfg, denoiser=den_cfg, edm=edm)
    last = {}
    while not run.done():
        for group in opt.param_groups:
            group["lr"] = warmup_lr(run.step, loop.lr)
        t = clip_length(run.step, rng)
        batch = data.sample(max(1, loop.batch // t), t, rng, p_no_motion=P_NO_MOTION,
                            motion_aug=MOTION_AUG * sigma_data, mouth_weight=mouth_weight)
        sigma = sample_sigma(batch.z.shape[0], edm, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, denoised, tokens = model(batch, sigma, gen)
            aux = probe.loss(tokens, batch.mouth_gt) if audio_aux > 0 else tokens.sum() * 0.0
            face_loss = face.loss(denoised, batch.face_gt) if face else denoised.sum() * 0.0
        opt.zero_grad(set_to_none=True)
        probe_opt.zero_grad(set_to_none=True)
        (loss + audio_aux * aux + face_aux * face_loss).backward()
        grad = torch.nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)
        opt.step()
        probe_opt.step()
        ema.update(teacher)
        last = {"loss": loss.item(), "aux": aux.item(), "face": face_loss.item(), "grad": grad.item(), "T": float(t)}
        run.tick(last)
        if run.should_save():
            save_teacher(run, teacher, ema, (opt, probe, probe_opt, face), bundle, ae_states["autoencoder"], last)
    if rank == 0:
        save_teacher(run, teacher, ema, (opt, probe, probe_opt, face), bundle, ae_states["autoencoder"], last)
    run.close()
    cleanup_distributed()
    return last


def save_teacher(run: Run, teacher: Teacher, ema: EMA, optimisers, bundle: BundleConfig, ae_state: dict,
                 last: dict) -> None:
    opt, probe, probe_opt, face = optimisers
    run.save_state({"model": teacher.state_dict(), "ema": ema.module.state_dict(), "opt": opt.state_dict(),
                    "probe": probe.state_dict(), "probe_opt": probe_opt.state_dict(),
                    "face_probe": face.state_dict() if face else None,
                    "sigma_data": teacher.denoiser.sigma_data})
    save_bundle(run.dir / "model.safetensors",
                {"autoencoder": ae_state, "audio": ema.module.audio, "denoiser": ema.module.denoiser.net},
                bundle, extra={"step": run.step, "last": last})
    run.log(f"saved step {run.step}")

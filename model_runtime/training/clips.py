"""Random training clips from cached latents: latents, reference, motion frames, audio, labels."""
from dataclasses import dataclass

import numpy as np
import torch

from avatar.core.errors import InputError
from avatar.model_runtime.conditioning import Cond, Reference
from avatar.model_runtime.config import SAMPLES_PER_FRAME
from avatar.model_runtime.corpus.geometry import make_geometry
from avatar.model_runtime.corpus.identity import Identity
from avatar.model_runtime.evaluation.estimator import PARAM_NAMES as FACE_PARAMS
from avatar.model_runtime.training.corpus_io import open_corpus
from avatar.model_runtime.training.latents import identity_latent_path, latent_path


@dataclass
class ClipBatch:
    z: torch.Tensor            # (B,T,C,h,w) clean latents
    ref: torch.Tensor          # (B,C,h,w) reference latents
    motion: torch.Tensor       # (B,K,C,h,w) previous latents (noise-augmented), zeros where absent
    motion_mask: torch.Tensor  # (B,) bool, False = start of a stream (no motion frames)
    wave: torch.Tensor         # (B,S) speech from ctx frames before the clip to past its end
    state: torch.Tensor        # (B,T) long
    expression: torch.Tensor   # (B,T,10)
    weight: torch.Tensor | None = None   # (B,1,1,h,w) per-pixel loss weight, mean 1; None = uniform
    face_gt: torch.Tensor | None = None   # (B,T,P) gt face parameters, FACE_PARAMS order (NaN = unknown)

    @property
    def mouth_gt(self) -> torch.Tensor:   # (B,T,2) gt mouth_open, mouth_width
        return self.face_gt[..., :2]

    def cond(self, audio_encoder, ctx: int) -> Cond:
        """The denoiser's conditioning for this batch. ``audio_encoder(wave, n_frames)`` gives
        (B, n_frames, D) tokens; the first ``ctx`` cover the audio context before the clip."""
        tokens = audio_encoder(self.wave, self.z.shape[1] + ctx)[:, ctx:]          # (B,T,D)
        return Cond(tokens, self.state, self.expression, Reference(latent=self.ref), self.motion, self.motion_mask)


def mouth_map(mouth: tuple[float, float, float], h: int, w: int, gain: float) -> np.ndarray:
    """(h, w) loss weight, mean 1: 1 + gain x a Gaussian on the mouth (centre y, x and half
    width, in latent pixels). The mouth is ~2% of the frame, so an unweighted loss barely
    notices whether it follows the audio (session 2: teacher3 ignored the audio entirely)."""
    cy, cx, half_w = mouth
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    bump = np.exp(-0.5 * (((xx - cx) / half_w) ** 2 + ((yy - cy) / (0.7 * half_w)) ** 2))
    weight = 1.0 + gain * bump
    return weight / weight.mean()


class LatentClips:
    def __init__(self, corpus_dir: str, tag: str, split: str, motion_frames: int, audio_context: int,
                 lookahead_samples: int):
        corpus = open_corpus(corpus_dir)
        self.k, self.ctx, self.look = motion_frames, audio_context, lookahead_samples
        self.latents, self.speech, self.state, self.expr, self.refs = [], [], [], [], []
        self.mouths: list[tuple[float, float, float]] = []   # per clip: centre y, x, half width (latent px)
        self.face_gt: list[np.ndarray] = []                   # per clip: (n, P) FACE_PARAMS
        for clip in corpus.split(split):
            path = latent_path(clip.path, tag)
            if not path.is_file():
                continue
            gt = clip.gt
            self.latents.append(np.load(path, mmap_mode="r"))
            self.speech.append(clip.load_speech().astype(np.float32))
            n = len(self.latents[-1])
            self.state.append(np.asarray(gt["frames"]["state"][:n], dtype=np.int64))
            self.expr.append(np.asarray(gt["frames"]["expression"][:n], dtype=np.float32))
            self.face_gt.append(self._face_gt(gt, n))
            self.refs.append(np.load(identity_latent_path(corpus.path, gt["identity"], tag)).astype(np.float32))
            self.mouths.append(self._mouth(corpus, gt["identity"], self.latents[-1].shape[-1]))
        if not self.latents:
            raise InputError(f"no cached latents (tag {tag}) for split {split!r} in {corpus_dir}: "
                             "run the latent encoding first")
        self.lengths = np.array([len(x) for x in self.latents])

    @classmethod
    def for_model(cls, corpus_dir: str, tag: str, split: str, den_cfg, audio_cfg) -> "LatentClips":
        """Clips shaped for a denoiser config (K motion frames) and audio config (context, look-ahead)."""
        return cls(corpus_dir, tag, split, den_cfg.motion_frames, audio_cfg.context_frames,
                   audio_cfg.lookahead_mel * audio_cfg.hop)

    @staticmethod
    def _mouth(corpus, ident: str, latent_w: int) -> tuple[float, float, float]:
        """The identity's neutral mouth (centre y, x, half width) in latent pixels (8x down):
        an explicit "mouth" entry of the identity record (in pixels), else the corpus geometry."""
        params = corpus.identity_params(ident)
        if "mouth" in params:
            y, x, half_w = params["mouth"]
        else:
            g = make_geometry(Identity.from_json(params), latent_w * 8)
            y, x, half_w = g.mouth_y, g.cx, g.mouth_w / 2.0
        return y / 8.0, x / 8.0, max(1.0, half_w / 8.0 + 1.0)

    @staticmethod
    def _face_gt(gt: dict, n: int) -> np.ndarray:
        """(n, P) gt face parameters; a column is NaN where the corpus lacks it (real video)."""
        frames = gt["frames"]
        return np.stack([np.asarray(frames[k][:n], np.float32) if k in frames else np.full(n, np.nan, np.float32)
                         for k in FACE_PARAMS], 1)

    def face_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (P,) of the known gt face parameters (0 and 1 where none are known)."""
        values = np.concatenate(self.face_gt)
        known = ~np.isnan(values)
        mean = np.array([values[k, j].mean() if k.any() else 0.0 for j, k in enumerate(known.T)], np.float32)
        std = np.array([values[k, j].std() + 1e-3 if k.any() else 1.0 for j, k in enumerate(known.T)], np.float32)
        return mean, std

    def __len__(self) -> int:
        return len(self.latents)

    def residual_std(self, n: int = 64, seed: int = 0) -> float:
        """std of z - z_ref over random frames: EDM's sigma_data for the residual diffusion."""
        rng = np.random.default_rng(seed)
        diffs = []
        for i in rng.integers(0, len(self), n):
            j = rng.integers(0, self.lengths[i])
            diffs.append(self.latents[i][j].astype(np.float32) - self.refs[i])
        return float(np.std(np.stack(diffs)))

    def _wave(self, i: int, t0: int, t: int) -> np.ndarray:
        start, stop = (t0 - self.ctx) * SAMPLES_PER_FRAME, (t0 + t) * SAMPLES_PER_FRAME + self.look
        speech = self.speech[i]
        out = np.zeros(stop - start, np.float32)
        lo, hi = max(start, 0), min(stop, len(speech))
        if hi > lo:
            out[lo - start:hi - start] = speech[lo:hi]
        return out

    def sample(self, b: int, t: int, rng: np.random.Generator, p_no_motion: float = 0.15,
               motion_aug: float = 0.5, mouth_weight: float = 0.0) -> ClipBatch:
        """b clips of t frames; motion noise std ~ U(0, motion_aug) x the residual scale;
        ``mouth_weight`` > 0 adds a per-pixel loss weight that stresses the mouth."""
        ok = np.flatnonzero(self.lengths >= t)
        if len(ok) == 0:
            raise InputError(f"no clip is {t} frames long")
        fields = {name: [] for name in ClipBatch.__dataclass_fields__}
        picks, starts = rng.choice(ok, b), []
        for i in picks:
            t0 = int(rng.integers(0, self.lengths[i] - t + 1))
            starts.append(t0)
            lat = self.latents[i]
            has_motion = t0 >= self.k and rng.random() >= p_no_motion
            motion = lat[t0 - self.k:t0].astype(np.float32) if has_motion else \
                np.zeros((self.k, *lat.shape[1:]), np.float32)
            fields["z"].append(lat[t0:t0 + t].astype(np.float32))
            fields["ref"].append(self.refs[i])
            fields["motion"].append(motion)
            fields["motion_mask"].append(has_motion)
            fields["wave"].append(self._wave(i, t0, t))
            fields["state"].append(self.state[i][t0:t0 + t])
            fields["expression"].append(self.expr[i][t0:t0 + t])
        del fields["weight"], fields["face_gt"]
        batch = ClipBatch(**{k: torch.from_numpy(np.stack(v)) for k, v in fields.items()})
        batch.face_gt = torch.from_numpy(np.stack([self.face_gt[i][t0:t0 + t] for i, t0 in zip(picks, starts)]))
        if mouth_weight > 0:
            h, w = batch.z.shape[-2:]
            maps = np.stack([mouth_map(self.mouths[i], h, w, mouth_weight) for i in picks])    # (B,h,w)
            batch.weight = torch.from_numpy(maps[:, None, None].astype(np.float32))
        aug = torch.from_numpy(rng.uniform(0, motion_aug, (b, 1, 1, 1, 1)).astype(np.float32))
        noise = torch.from_numpy(rng.standard_normal(batch.motion.shape).astype(np.float32))
        batch.motion = batch.motion + aug * noise * batch.motion_mask.view(-1, 1, 1, 1, 1)
        return batch

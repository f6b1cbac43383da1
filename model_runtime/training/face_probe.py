"""A frozen latent-space face reader that turns expression control into a training signal.

Session 2's teacher rendered the mouth (its loss is weighted there) but ignored the
expression vector: brows, lids, gaze and mouth corners cover a few latent pixels each, so
the denoising loss barely changes when they are wrong (shuffling the expression raised it
by 2-4 %). Like Wav2Lip's sync expert, a small network that reads the corpus' ground-truth
face parameters (FACE_PARAMS) from a clean latent is trained first and frozen; the denoiser
is then also penalised when its denoised clip reads differently from the ground truth.
The evaluation uses a different network (the pixel-space estimator), so the eval numbers
are not the quantity being optimised here.
"""
import numpy as np
import torch
import torch.nn as nn

from avatar.model_runtime.evaluation.metrics import pearson
from avatar.model_runtime.training.clips import FACE_PARAMS, LatentClips


def masked_standardised_mse(pred, gt, mean, std):
    """Mean squared error against (gt - mean) / std over the entries where gt is known (not NaN);
    0 (with a graph) when none is. pred and gt have the same shape, mean and std broadcast."""
    known = ~torch.isnan(gt)
    if not known.any():
        return pred.sum() * 0.0
    # Zeros where unknown, not NaN: the masked-out entries still get a (zero) gradient,
    # and 0 x NaN would poison it.
    target = torch.nan_to_num((gt - mean) / std)
    return ((pred - target) ** 2)[known].mean()


class LatentFaceProbe(nn.Module):
    """(N, C, h, w) latent -> (N, P) standardised face parameters. Flattened, not pooled:
    gaze and head pose are positions."""

    def __init__(self, channels: int, size: int, mean: np.ndarray, std: np.ndarray, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.GELU(),           # size/2
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),       # size/4
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.GELU(),   # size/8
            nn.Flatten(), nn.Linear(2 * width * (size // 8) ** 2, 256), nn.GELU(), nn.Linear(256, len(mean)))
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    @classmethod
    def for_clips(cls, data: LatentClips) -> "LatentFaceProbe":
        """Sized for the clips' latents, standardised with their ground-truth statistics."""
        latent = data.latents[0]                                  # (n, C, h, w)
        return cls(latent.shape[1], latent.shape[-1], *data.face_stats())

    def forward(self, z):
        return self.net(z)

    def loss(self, z, face_gt):                 # z (B,T,C,h,w), face_gt (B,T,P) -> scalar
        pred = self(z.flatten(0, 1).float()).view(*face_gt.shape)
        return masked_standardised_mse(pred, face_gt, self.mean, self.std)


def _frames(data: LatentClips, clips: np.ndarray, n: int, rng: np.random.Generator):
    """n random (latent, gt) frames from the given clip indices: (n,C,h,w), (n,P)."""
    picks = rng.choice(clips, n)
    rows = [(i, int(rng.integers(0, data.lengths[i]))) for i in picks]
    z = np.stack([data.latents[i][j].astype(np.float32) for i, j in rows])
    gt = np.stack([data.face_gt[i][j] for i, j in rows])
    return torch.from_numpy(z), torch.from_numpy(gt)


def train_face_probe(data: LatentClips, steps: int = 1200, batch: int = 96, seed: int = 0,
                     log=print) -> tuple[LatentFaceProbe, dict[str, float]]:
    """Train on 90 % of the clips, report Pearson r per parameter on the other 10 %, freeze."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    order = rng.permutation(len(data))
    held = order[:max(1, len(data) // 10)]
    train = order[len(held):] if len(data) > 1 else order
    probe = LatentFaceProbe.for_clips(data)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        z, gt = _frames(data, train, batch, rng)
        loss = probe.loss(z[:, None], gt[:, None])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            log(f"face probe step {step} loss={loss.item():.4f}")
    r = held_out_r(probe, data, held, rng)
    log("face probe held-out r: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))
    return probe.eval().requires_grad_(False), r


@torch.no_grad()
def held_out_r(probe: LatentFaceProbe, data: LatentClips, clips: np.ndarray, rng: np.random.Generator,
               n: int = 2048) -> dict[str, float]:
    z, gt = _frames(data, clips, n, rng)
    pred = probe(z) * probe.std + probe.mean                 # (n,P)
    out = {}
    for j, name in enumerate(FACE_PARAMS):
        ok = ~torch.isnan(gt[:, j])
        if ok.sum() > 2:
            out[name] = pearson(pred[ok, j].numpy(), gt[ok, j].numpy())
    return out

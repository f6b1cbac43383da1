"""The frozen latent face probe behind --face-aux: it learns to read parameters, ignores
unknown ones, and passes gradients to the denoised clip only."""
import numpy as np
import torch

from avatar.model_runtime.training.clips import FACE_PARAMS, LatentClips
from avatar.model_runtime.training.face_probe import train_face_probe

GAZE, OPEN = FACE_PARAMS.index("gaze_x"), FACE_PARAMS.index("mouth_open")


def _clips(n_clips=24, n_frames=30, size=16, seed=0) -> LatentClips:
    """Latents with a blob whose column is gaze_x and whose brightness is mouth_open; the other
    parameters are unknown (NaN), as in a corpus without them."""
    rng = np.random.default_rng(seed)
    data = LatentClips.__new__(LatentClips)
    data.latents, data.face_gt = [], []
    for _ in range(n_clips):
        gaze = rng.uniform(-1, 1, n_frames)
        opening = rng.uniform(0, 1, n_frames)
        z = rng.standard_normal((n_frames, 4, size, size)).astype(np.float16) * 0.3
        gt = np.full((n_frames, len(FACE_PARAMS)), np.nan, np.float32)
        for f in range(n_frames):
            x = int(round((gaze[f] + 1) / 2 * (size - 3)))
            z[f, 0, 6:9, x:x + 3] += 1 + 2 * opening[f]
        gt[:, GAZE], gt[:, OPEN] = gaze, opening
        data.latents.append(z)
        data.face_gt.append(gt)
    data.lengths = np.array([len(z) for z in data.latents])
    return data


def test_probe_reads_known_parameters_on_held_out_clips():
    torch.manual_seed(0)
    probe, r = train_face_probe(_clips(), steps=300, batch=64, log=lambda _: None)
    assert set(r) == {"gaze_x", "mouth_open"}            # NaN columns are neither trained nor scored
    assert r["gaze_x"] > 0.9 and r["mouth_open"] > 0.8, r
    assert not any(p.requires_grad for p in probe.parameters())


def test_probe_loss_masks_unknown_and_gives_gradients_to_the_clip():
    probe, _ = train_face_probe(_clips(n_clips=4), steps=5, batch=8, log=lambda _: None)
    z = torch.randn(2, 3, 4, 16, 16, requires_grad=True)                    # (B,T,C,h,w)
    unknown = torch.full((2, 3, len(FACE_PARAMS)), float("nan"))
    assert probe.loss(z, unknown).item() == 0.0
    known = unknown.clone()
    known[..., GAZE] = 0.5
    loss = probe.loss(z, known)
    loss.backward()
    assert loss.item() > 0 and z.grad.abs().sum() > 0

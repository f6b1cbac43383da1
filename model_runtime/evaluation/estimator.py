"""Face-parameter estimator: one RGB frame -> the corpus ground-truth face parameters.

A small strided CNN (about 1 M parameters). Besides the 10 parameters it emits a unit-norm
identity embedding, trained with a cosine-softmax over the training identities, so that drift
and identity similarity can be measured without any downloaded face-recognition weights.
Weights are fp16 safetensors; the EstimatorConfig is JSON in the file's metadata.
"""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from avatar.core.errors import AvatarError

# The per-frame keys of gt.json["frames"] that the estimator predicts, in output order.
PARAM_NAMES: tuple[str, ...] = ("mouth_open", "mouth_width", "smile", "brow", "eye_open",
                                "gaze_x", "gaze_y", "head_yaw", "head_pitch", "head_roll")
DEFAULT_WEIGHTS = "models/estimator.safetensors"


@dataclass
class EstimatorConfig:
    input_size: int = 160
    # Centre square crop (fraction of the side) before resizing: the corpus head fills the
    # middle ~60% of the frame, so this spends the input pixels on the face, not the backdrop
    # (0.7 x 256 = 179 px -> 160: expressions move features by only 2-5 px at 256).
    crop: float = 0.7
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)   # one stride-2 stage each: 160 -> 5 px
    hidden: int = 160
    embed_dim: int = 64
    params: tuple[str, ...] = PARAM_NAMES
    # Targets are predicted standardised; these undo it (filled in from the training set).
    target_mean: tuple[float, ...] = (0.0,) * len(PARAM_NAMES)
    target_std: tuple[float, ...] = (1.0,) * len(PARAM_NAMES)
    # Parameters tracked well on held-out (validation) identities; set after training.
    reliable: tuple[str, ...] = PARAM_NAMES
    # Stage whose pooled features describe appearance (colour and texture statistics).
    appearance_stage: int = 2

    @classmethod
    def from_json(cls, text: str) -> "EstimatorConfig":
        data = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class FaceEstimator(nn.Module):
    def __init__(self, cfg: EstimatorConfig):
        super().__init__()
        self.cfg = cfg
        stages, cin = [], 3
        for i, w in enumerate(cfg.widths):
            # No second conv at the first (64 px) stage: it would cost as much as all later ones.
            stages += [conv_bn(cin, w, 2)] + ([conv_bn(w, w, 1)] if i > 0 else [])
            cin = w
        self.features = nn.Sequential(*stages)
        side = cfg.input_size // 2 ** len(cfg.widths)
        # Flatten, not global pooling: gaze and head pose live in *where* things are.
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, cfg.hidden), nn.SiLU())
        self.head = nn.Linear(cfg.hidden, len(cfg.params))
        # The identity embedding reads globally pooled features: pooling discards *where*
        # things are, which is what pose and expression change, and keeps colours and textures.
        self.embed = nn.Sequential(nn.Linear(cin, cin), nn.SiLU(), nn.Linear(cin, cfg.embed_dim))
        self.register_buffer("mean", torch.tensor(cfg.target_mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(cfg.target_std, dtype=torch.float32))
        # Layer index where the appearance stage ends (stage 0 has one conv, the others two),
        # and the training-set statistics that standardise its pooled features.
        self.appearance_layer = 2 * cfg.appearance_stage
        width = cfg.widths[cfg.appearance_stage]
        self.register_buffer("app_mean", torch.zeros(width))
        self.register_buffer("app_std", torch.ones(width))

    def forward(self, x):                                   # (B, 3, S, S) float in [0, 1]
        """-> standardised parameters (B, P), identity embedding (B, E), appearance (B, A)."""
        f = x * 2.0 - 1.0
        for i, layer in enumerate(self.features):
            f = layer(f)                                    # (B, C_i, s_i, s_i)
            if i == self.appearance_layer:
                a = (f.float().mean(dim=(2, 3)) - self.app_mean) / self.app_std
        e = self.embed(f.mean(dim=(2, 3)))                  # (B, E)
        return self.head(self.trunk(f)), F.normalize(e.float(), dim=1), a

    def denormalise(self, z):                               # (B, P) -> physical units of gt.json
        return z.float() * self.std + self.mean


def save_estimator(model: FaceEstimator, path: str | Path) -> None:
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
               if v.is_floating_point()}
    tensors.update({k: v.detach().contiguous() for k, v in model.state_dict().items()
                    if not v.is_floating_point()})
    save_file(tensors, str(path), metadata={"config": json.dumps(asdict(model.cfg)), "kind": "face_estimator"})


def default_weights_path() -> Path:
    from avatar.core.paths import asset
    return asset(DEFAULT_WEIGHTS)


def load_estimator(path: str | Path | None = None) -> FaceEstimator:
    """Load fp16 weights into an fp32 eval-mode model (None = the bundled weights)."""
    path = Path(path) if path is not None else default_weights_path()
    if not path.is_file():
        raise AvatarError(f"estimator weights not found: {path}")
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("kind") != "face_estimator":
        raise AvatarError(f"{path} is not a face-estimator checkpoint")
    model = FaceEstimator(EstimatorConfig.from_json(meta["config"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    return model.eval()


def prepare_frames(frames: np.ndarray, size: int, crop: float = 1.0) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, size, size, 3) uint8: centre square crop, area resize."""
    t, h, w, _ = frames.shape
    s = int(round(min(h, w) * crop))
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = frames[:, y0:y0 + s, x0:x0 + s]
    if s == size:
        return np.ascontiguousarray(crop)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in crop])


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float in [0, 1], channels-last memory."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    return x.contiguous(memory_format=torch.channels_last)


@dataclass
class Estimates:
    params: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (T,)
    embedding: np.ndarray | None = None                          # (T, E), unit norm
    appearance: np.ndarray | None = None                         # (T, A), standardised


@torch.inference_mode()
def estimate(model: FaceEstimator, frames: np.ndarray, batch: int = 128, prepared: bool = False) -> Estimates:
    """Run the estimator over every frame (bf16 autocast: about 3x faster on this CPU).

    frames: (T, H, W, 3) uint8 RGB video frames, or with prepared=True frames already cropped
    and resized by prepare_frames (what the training and scoring sets hold).
    """
    if len(frames) == 0:
        return Estimates({n: np.zeros(0, np.float32) for n in model.cfg.params},
                         np.zeros((0, model.cfg.embed_dim), np.float32),
                         np.zeros((0, len(model.app_mean)), np.float32))
    model = model.to(memory_format=torch.channels_last)
    outs, embs, apps = [], [], []
    for start in range(0, len(frames), batch):
        chunk = frames[start:start + batch]
        if not prepared:
            chunk = prepare_frames(chunk, model.cfg.input_size, model.cfg.crop)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z, e, a = model(to_tensor(chunk))
        outs.append(model.denormalise(z).numpy())
        embs.append(e.float().numpy())
        apps.append(a.float().numpy())
    p = np.concatenate(outs)                                         # (T, P)
    return Estimates({n: p[:, i] for i, n in enumerate(model.cfg.params)}, np.concatenate(embs),
                     np.concatenate(apps))

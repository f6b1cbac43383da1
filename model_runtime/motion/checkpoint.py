"""Motion checkpoints: one safetensors file with the motion network and its frozen audio encoder.

The configs travel in the metadata (``MotionBundle``) and are rebuilt on load, nanoGPT style,
so a checkpoint needs no side files. The audio encoder is the shipped avatar model's, copied in,
so that the motion checkpoint stands alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError, safe_open

from avatar.core.errors import InputError
from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.checkpoint import load_bundle, load_into, save_bundle
from avatar.model_runtime.config import AudioConfig, from_dict

from .model import MotionConfig, MotionNet

FORMAT = "avatar-motion-1"


@dataclass
class MotionBundle:
    motion: MotionConfig = field(default_factory=MotionConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)


def audio_encoder_from(path) -> AudioEncoder:
    """The frozen audio encoder of an avatar bundle (assets/models/avatar.safetensors) or of a
    motion checkpoint."""
    if read_format(path) == FORMAT:
        return load_motion(path)[1]
    config, states, _ = load_bundle(path)
    audio = AudioEncoder(config.audio)
    load_into(audio, states["audio"], "audio encoder")
    return audio.eval().requires_grad_(False)


def read_format(path) -> str:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            kind = (f.metadata() or {}).get("kind")
    except (OSError, SafetensorError) as err:
        raise InputError(f"cannot read checkpoint {path}: {err}") from err
    return json.loads(kind) if kind else ""


def save_motion(path, net: MotionNet, audio: AudioEncoder, extra: dict | None = None) -> None:
    """fp16 tensors: both networks are small and their outputs tolerate it (see the model card)."""
    save_bundle(path, {"motion": net, "audio": audio}, MotionBundle(net.cfg, audio.cfg),
                extra={"kind": FORMAT, **(extra or {})}, half=True)


def load_motion(path) -> tuple[MotionNet, AudioEncoder, dict]:
    """-> (motion network, audio encoder, extra metadata), both networks in eval mode, fp32."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            states: dict = {"motion": {}, "audio": {}}
            for key in f.keys():
                prefix, _, rest = key.partition(".")
                states.setdefault(prefix, {})[rest] = f.get_tensor(key).float()
    except (OSError, SafetensorError) as err:
        raise InputError(f"cannot read checkpoint {path}: {err}") from err
    if json.loads(meta.get("kind", '""')) != FORMAT:
        raise InputError(f"{path} is not a motion checkpoint (avatar train motion)")
    bundle = from_dict(MotionBundle, json.loads(meta["config"]))
    net, audio = MotionNet(bundle.motion), AudioEncoder(bundle.audio)
    load_into(net, states["motion"], "motion network")
    load_into(audio, states["audio"], "audio encoder")
    extra = {k: json.loads(v) for k, v in meta.items() if k not in ("config", "format", "kind")}
    return net.eval().requires_grad_(False), audio.eval().requires_grad_(False), extra

"""Checkpoints: one safetensors file, weights prefixed per network, the BundleConfig JSON in
the metadata. Configs are rebuilt from the file (nanoGPT's model_args idea), so a
checkpoint needs no side files to load.
"""
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from avatar.core.errors import InputError
from avatar.model_runtime.config import BundleConfig, from_dict, to_dict

PREFIXES = ("autoencoder", "audio", "denoiser")


def save_bundle(path, modules: dict, config: BundleConfig, extra: dict | None = None,
                half: bool = False) -> None:
    """modules: prefix -> nn.Module (or a state dict). Written atomically (tmp + rename).
    half=True stores floating tensors as fp16 (the shipped checkpoint: half the size; the
    networks run in bf16 anyway and load_state_dict casts back to fp32)."""
    tensors = {}
    for prefix, module in modules.items():
        state = module if isinstance(module, dict) else module.state_dict()
        for key, value in state.items():
            value = value.detach().to("cpu")
            if half and value.is_floating_point():
                value = value.half()
            tensors[f"{prefix}.{key}"] = value.contiguous()
    meta = {"config": json.dumps(to_dict(config)), "format": "avatar-bundle-1"}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.chmod(0o644)                  # safetensors creates the file owner-only
    tmp.replace(path)


def read_metadata(path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_bundle(path) -> tuple[BundleConfig, dict, dict]:
    """-> (config, {prefix: state_dict}, extra metadata). Raises InputError on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            states: dict = {p: {} for p in PREFIXES}
            for key in f.keys():
                prefix, _, rest = key.partition(".")
                states.setdefault(prefix, {})[rest] = f.get_tensor(key)
    except (OSError, SafetensorError) as err:
        raise InputError(f"cannot read checkpoint {path}: {err}") from err
    if "config" not in meta:
        raise InputError(f"{path} is not an avatar checkpoint (no config in its metadata)")
    config = from_dict(BundleConfig, json.loads(meta["config"]))
    extra = {k: json.loads(v) for k, v in meta.items() if k not in ("config", "format")}
    return config, states, extra


def bundle_networks(config: BundleConfig, states: dict, *names: str) -> tuple[torch.nn.Module, ...]:
    """The networks ``names`` (PREFIXES; "denoiser" is the preconditioned Denoiser) of a loaded bundle,
    built from its config and given its weights, in the order asked; modes left as built."""
    from avatar.model_runtime.audio import AudioEncoder
    from avatar.model_runtime.autoencoder import Autoencoder
    from avatar.model_runtime.conditioning import bundle_denoiser

    nets = []
    for name in names:
        if name == "autoencoder":
            net = Autoencoder(config.autoencoder)
            load_into(net, states[name], "autoencoder")
        elif name == "audio":
            net = AudioEncoder(config.audio)
            load_into(net, states[name], "audio encoder")
        elif name == "denoiser":
            net = bundle_denoiser(config)
            load_into(net.net, states[name], "denoiser")
        else:
            raise ValueError(f"no network {name!r} in a bundle (one of {PREFIXES})")
        nets.append(net)
    return tuple(nets)


def load_into(module: torch.nn.Module, state: dict, what: str) -> None:
    if not state:
        raise InputError(f"checkpoint has no {what} weights")
    module.load_state_dict(state)

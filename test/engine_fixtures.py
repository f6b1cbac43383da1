"""A tiny randomly initialised AvatarModel: exercises the engine's plumbing fast."""
import numpy as np

from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.avatar_model import AvatarModel
from avatar.model_runtime.conditioning import bundle_denoiser
from avatar.model_runtime.config import AudioConfig, AutoencoderConfig, BundleConfig, DenoiserConfig
from avatar.model_runtime.denoiser import DenoiserUNet


def tiny_model(size: int = 64, dtype: str = "fp32") -> AvatarModel:
    """Every weight random (no zero-initialised output layers), so outputs depend on every input."""
    import torch
    torch.manual_seed(0)
    cfg = BundleConfig(autoencoder=AutoencoderConfig(size=size, widths=(8, 12, 16)),
                       audio=AudioConfig(width=32, dim=16),
                       denoiser=DenoiserConfig(widths=(16, 24, 32), emb_dim=32, audio_dim=16, heads=2))
    nets = Autoencoder(cfg.autoencoder), AudioEncoder(cfg.audio), DenoiserUNet(cfg.denoiser)
    with torch.no_grad():
        for net in nets:
            for name, p in net.named_parameters():
                if p.dim() > 1:
                    p.normal_(0.0, (1.0 / p[0].numel()) ** 0.5)
                elif not name.endswith("weight"):
                    p.normal_(0.0, 0.02)
    return AvatarModel(cfg, nets[0], nets[1], bundle_denoiser(cfg, nets[2]), dtype=dtype)


def portrait(seed: int = 0, shape=(80, 70, 3)) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * env * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def save_tiny_checkpoint(path, size: int = 64) -> str:
    from avatar.model_runtime.checkpoint import save_bundle

    m = tiny_model(size)
    save_bundle(path, {"autoencoder": m.autoencoder, "audio": m.audio, "denoiser": m.denoiser.net}, m.config)
    return str(path)


def save_portrait(path, seed: int = 0) -> str:
    import cv2
    cv2.imwrite(str(path), portrait(seed, (96, 80, 3)))
    return str(path)


def tiny_engine(model, image, config=None, **kwargs):
    """A StreamingEngine drawing with ``model`` through the diffusion renderer, controls-only motion,
    and the whole (face-less, random) test image as the crop."""
    from dataclasses import replace

    from avatar.model_runtime.engine.motion_source import ExplicitMotion
    from avatar.model_runtime.engine.streaming import EngineConfig, StreamingEngine
    from avatar.model_runtime.renderers.diffusion import DiffusionRenderer

    config = replace(config or EngineConfig(), framing="whole")
    return StreamingEngine(DiffusionRenderer(model), ExplicitMotion(), image, config, **kwargs)


def save_tiny_motion_checkpoint(path) -> str:
    """A random motion generator (the shipped one is not needed for plumbing tests)."""
    import torch

    from avatar.model_runtime.motion.checkpoint import save_motion
    from avatar.model_runtime.motion.model import MotionConfig, MotionNet

    torch.manual_seed(0)
    audio = AudioEncoder(AudioConfig(width=32, dim=16))
    net = MotionNet(MotionConfig(audio_dim=16, width=32, layers=1, heads=2, motion_frames=4, max_frames=8))
    save_motion(path, net, audio)
    return str(path)

"""Dataclass configs of every network; checkpoints store them as JSON (nanoGPT style)."""
from dataclasses import asdict, dataclass, field, fields

from avatar.core.timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME  # noqa: F401  (re-exported)


@dataclass
class AutoencoderConfig:
    size: int = 256                      # frame side in pixels
    latent_channels: int = 4
    widths: tuple = (24, 48, 96)         # channels at size/2, size/4, size/8
    latent_scale: float = 1.0            # multiplies raw latents so that data latents have ~unit std
    latent_shift: float = 0.0            # subtracted before scaling (per-dataset mean)

    @property
    def latent_size(self) -> int:
        return self.size // 8


@dataclass
class AudioConfig:
    n_mels: int = 80
    n_fft: int = 400                     # 25 ms window at 16 kHz
    hop: int = 160                       # 10 ms hop: 4 mel frames per video frame
    width: int = 192
    dilations: tuple = (1, 2, 4, 8, 1, 2)
    lookahead_mel: int = 8               # mel frames past a video frame's end: 8 x 10 ms = 80 ms
    dim: int = 128                       # token width D

    @property
    def lookahead_ms(self) -> float:
        return 1000.0 * self.lookahead_mel * self.hop / SAMPLE_RATE

    @property
    def context_frames(self) -> int:
        """Video frames of past audio the receptive field reaches (feed this much history)."""
        receptive_mel = 3 + 2 * sum(self.dilations)   # stem conv k=3 plus two k=3 convs per block
        return -(-receptive_mel // (SAMPLES_PER_FRAME // self.hop))


@dataclass
class DenoiserConfig:
    latent_channels: int = 4
    widths: tuple = (48, 96, 160)        # channels at 32², 16², 8²
    emb_dim: int = 256
    audio_dim: int = 128
    audio_window: int = 2                # cross-attention sees audio tokens t-2..t+2 of the clip
    expr_dim: int = 10
    n_states: int = 3
    motion_frames: int = 2               # K
    heads: int = 4
    attn_levels: tuple = (2,)            # levels (0=32², 1=16², 2=8²) with temporal + audio attention


@dataclass
class EDMConfig:
    sigma_data: float = 0.5              # std of the residual latent (z - z_ref), measured at training
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    # Training noise levels, ln sigma ~ N(p_mean, p_std²): median ~5 sigma_data. The mouth's
    # residual is several sigma_data large, so below that the noisy input already shows the
    # mouth and only high noise levels teach the audio -> mouth mapping that 1-2 step
    # sampling from sigma_max needs (with p_mean -0.8, 4% of samples were above sigma 5 and
    # the teacher ignored the audio entirely).
    p_mean: float = 0.5
    p_std: float = 1.6
    rho: float = 7.0


@dataclass
class BundleConfig:
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    edm: EDMConfig = field(default_factory=EDMConfig)
    kind: str = "teacher"                # "teacher" (Euler/Heun, many steps) or "student" (1-4 steps)
    student_sigmas: dict = field(default_factory=dict)   # str(steps) -> [sigma_0, ..., 0]


def to_dict(cfg) -> dict:
    return asdict(cfg)


def from_dict(cls, data: dict):
    """Rebuild a (nested) config dataclass; lists become tuples where the default is a tuple."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        sub = f.default_factory() if callable(f.default_factory) else f.default
        if hasattr(sub, "__dataclass_fields__"):
            value = from_dict(type(sub), value)
        elif isinstance(sub, tuple):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)

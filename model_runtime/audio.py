"""Audio encoder: log-mel (torch.stft + a numpy mel filterbank) and a causal dilated 1-D conv.

torchaudio is deliberately not used: its wheels pin a different torch than ours, and
a mel filterbank is a few lines of numpy (HTK mel scale, triangular filters).

Timing: the wave is left-padded by n_fft - hop samples so that mel frame j ends
exactly at sample (j+1)*hop. Video frame t ends at sample (t+1)*640 = mel frame 4t+3.
The convs are causal, and token t is read at mel frame 4t+3+lookahead_mel, so token t
depends on audio up to (t+1)*640 + lookahead_mel*hop samples and never beyond.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from avatar.model_runtime.config import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioConfig


def mel_filterbank(n_mels: int, n_fft: int, sr: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular HTK-mel filters, (n_mels, n_fft//2+1), each normalised to unit area (Slaney-style)."""
    fmax = fmax or sr / 2
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)   # noqa: E731
    mel_to_hz = lambda m: 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)  # noqa: E731
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    return (tri * (2.0 / (hi - lo))).astype(np.float32)


class LogMel(nn.Module):
    def __init__(self, cfg: AudioConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(cfg.n_mels, cfg.n_fft, SAMPLE_RATE)),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def forward(self, wave):                                    # (B, S) -> (B, n_mels, S // hop)
        wave = F.pad(wave.float(), (self.cfg.n_fft - self.cfg.hop, 0))
        spec = torch.stft(wave, self.cfg.n_fft, self.cfg.hop, window=self.window,
                          center=False, return_complex=True).abs() ** 2
        return torch.log(self.fb @ spec + 1e-6)


class CausalBlock(nn.Module):
    def __init__(self, ch: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv1 = nn.Conv1d(ch, ch, 3, dilation=dilation)
        self.conv2 = nn.Conv1d(ch, ch, 3, dilation=dilation)

    def forward(self, x):                                       # (B, C, M)
        pad = (2 * self.dilation, 0)
        h = self.conv1(F.pad(F.gelu(x), pad))
        return x + self.conv2(F.pad(F.gelu(h), pad))


class AudioEncoder(nn.Module):
    """Wave (B, S) at 16 kHz, sample 0 = start of frame 0 -> tokens (B, T, D), one per video frame."""

    def __init__(self, cfg: AudioConfig):
        super().__init__()
        self.cfg = cfg
        self.mel = LogMel(cfg)
        self.stem = nn.Conv1d(cfg.n_mels, cfg.width, 3)
        self.blocks = nn.ModuleList(CausalBlock(cfg.width, d) for d in cfg.dilations)
        self.out = nn.Linear(cfg.width, cfg.dim)

    def samples_needed(self, n_frames: int) -> int:
        return n_frames * SAMPLES_PER_FRAME + self.cfg.lookahead_mel * self.cfg.hop

    def forward(self, wave, n_frames: int):
        need = self.samples_needed(n_frames)
        wave = F.pad(wave, (0, max(0, need - wave.shape[1])))[:, :need]
        mel = self.mel(wave)                                    # (B, n_mels, M)
        # A fixed affine rescale, not a per-utterance norm: utterance statistics would leak
        # future audio into every token and break the look-ahead bound.
        h = self.stem(F.pad((mel + 4.0) / 4.0, (2, 0)))
        for block in self.blocks:
            h = block(h)                                        # (B, width, M)
        per_frame = SAMPLES_PER_FRAME // self.cfg.hop
        idx = torch.arange(n_frames, device=wave.device) * per_frame + per_frame - 1 + self.cfg.lookahead_mel
        return self.out(F.gelu(h[:, :, idx].transpose(1, 2)))  # (B, T, D)

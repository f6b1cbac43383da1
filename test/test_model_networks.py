"""Shapes for variable clip lengths, audio look-ahead bound, and the preconditioned denoiser."""
import pytest
import torch

from avatar.model_runtime.audio import AudioEncoder, mel_filterbank
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.conditioning import Cond, Denoiser, Reference
from avatar.model_runtime.config import SAMPLES_PER_FRAME, AudioConfig, AutoencoderConfig, DenoiserConfig
from avatar.model_runtime.denoiser import DenoiserUNet

SMALL_DEN = DenoiserConfig(widths=(16, 32, 32), emb_dim=32, audio_dim=16, heads=2)


def make_cond(b, t, cfg=SMALL_DEN, motion=True, hw=8):
    ref = Reference(latent=torch.randn(1, 4, hw, hw))
    mot = torch.randn(b, cfg.motion_frames, 4, hw, hw) if motion else None
    return Cond(torch.randn(b, t, cfg.audio_dim), torch.randint(0, 3, (b, t)), torch.rand(b, t, 10), ref, mot)


@pytest.mark.parametrize("t", [1, 2, 16])
@pytest.mark.parametrize("motion", [True, False])
def test_denoiser_shapes(t, motion):
    torch.manual_seed(0)
    den = Denoiser(DenoiserUNet(SMALL_DEN), sigma_data=0.3)
    x = torch.randn(2, t, 4, 8, 8)
    out = den(x, torch.tensor([0.5, 3.0]), make_cond(2, t, motion=motion))
    assert out.shape == (2, t, 4, 8, 8)
    assert torch.isfinite(out).all()


def test_fewer_motion_frames_than_k_are_accepted():
    den = Denoiser(DenoiserUNet(SMALL_DEN), sigma_data=0.3)
    cond = make_cond(1, 3)
    cond.motion = cond.motion[:, :1]
    assert den(torch.randn(1, 3, 4, 8, 8), torch.tensor([1.0]), cond).shape == (1, 3, 4, 8, 8)


@pytest.mark.parametrize("t", [1, 2, 16])
def test_audio_tokens_one_per_frame(t):
    enc = AudioEncoder(AudioConfig(width=32, dim=16))
    assert enc(torch.randn(3, t * SAMPLES_PER_FRAME), t).shape == (3, t, 16)


def test_audio_lookahead_is_bounded():
    torch.manual_seed(0)
    cfg = AudioConfig(width=32, dim=16)
    enc = AudioEncoder(cfg).eval()
    n, frame = 12, 5
    wave = torch.randn(1, n * SAMPLES_PER_FRAME + 4000)
    limit = (frame + 1) * SAMPLES_PER_FRAME + cfg.lookahead_mel * cfg.hop     # first sample token 5 must ignore
    later = wave.clone()
    later[:, limit:] = torch.randn_like(later[:, limit:]) * 5
    within = wave.clone()
    within[:, limit - 100:limit] += 1.0
    with torch.no_grad():
        base, changed_late, changed_within = enc(wave, n), enc(later, n), enc(within, n)
    assert torch.equal(base[:, :frame + 1], changed_late[:, :frame + 1])
    assert not torch.allclose(base[:, frame + 2:], changed_late[:, frame + 2:])   # later tokens do see it
    assert not torch.allclose(base[:, frame], changed_within[:, frame])
    assert cfg.lookahead_ms == 80.0


def test_mel_filterbank_covers_spectrum():
    fb = mel_filterbank(80, 400, 16000)
    assert fb.shape == (80, 201)
    assert (fb.sum(axis=1) > 0).all()


def test_decoder_copies_reference_where_residual_is_zero():
    cfg = AutoencoderConfig(size=64, widths=(8, 16, 16))
    ae = Autoencoder(cfg).eval()
    torch.nn.init.zeros_(ae.decoder.out.weight)
    torch.nn.init.zeros_(ae.decoder.out.bias)
    ref = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out = ae.decode(torch.randn(3, 4, 8, 8), ae.ref_encoder(ref), ref)
    assert out.shape == (3, 3, 64, 64)
    assert torch.allclose(out, ref.expand(3, -1, -1, -1))

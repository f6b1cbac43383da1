"""EDM loss, samplers, checkpoint round-trip through the AvatarModel facade."""
import numpy as np
import pytest
import torch

from avatar.core.errors import InputError
from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.avatar_model import AvatarModel
from avatar.model_runtime.checkpoint import load_bundle, save_bundle
from avatar.model_runtime.conditioning import Cond, Denoiser, Reference
from avatar.model_runtime.config import AudioConfig, AutoencoderConfig, BundleConfig, DenoiserConfig, EDMConfig
from avatar.model_runtime.denoiser import DenoiserUNet
from avatar.model_runtime.edm import edm_loss, karras_sigmas
from avatar.model_runtime.samplers import sample_consistency, sample_euler, sample_heun

DEN = DenoiserConfig(widths=(16, 32, 32), emb_dim=32, audio_dim=16, heads=2)


def small_bundle(tmp_path):
    torch.manual_seed(0)
    cfg = BundleConfig(autoencoder=AutoencoderConfig(size=64, widths=(8, 16, 16), latent_scale=2.0),
                       audio=AudioConfig(width=32, dim=16), denoiser=DEN, edm=EDMConfig(sigma_data=0.3),
                       kind="student", student_sigmas={"2": [80.0, 0.3, 0.0]})
    nets = {"autoencoder": Autoencoder(cfg.autoencoder), "audio": AudioEncoder(cfg.audio),
            "denoiser": DenoiserUNet(cfg.denoiser)}
    for net in nets.values():       # non-trivial weights everywhere (some layers start at zero)
        for p in net.parameters():
            p.data.normal_(0, 0.05)
    path = tmp_path / "m.safetensors"
    save_bundle(path, nets, cfg)
    return path, cfg, nets


def test_checkpoint_round_trip_rebuilds_same_outputs(tmp_path):
    path, cfg, nets = small_bundle(tmp_path)
    model = AvatarModel.load(str(path), dtype="fp32")
    assert model.config == load_bundle(path)[0]
    assert (model.size, model.latent_shape, model.fps, model.sample_rate) == (64, (4, 8, 8), 25, 16000)
    image = np.random.default_rng(0).integers(0, 255, (80, 64, 3), dtype=np.uint8)
    ref = model.prepare_reference(image)
    wave = torch.randn(1, 6000)
    tokens = model.audio_tokens(wave, 4)
    with torch.no_grad():
        assert torch.allclose(tokens, nets["audio"].eval()(wave, 4), atol=1e-5)
        cond = Cond(tokens, torch.full((1, 4), 2), torch.zeros(1, 4, 10), ref, None)
        x, sigma = torch.randn(1, 4, 4, 8, 8), torch.tensor([1.5])
        want = Denoiser(nets["denoiser"].eval(), 0.3)(x, sigma, cond)
        assert torch.allclose(model.denoise(x, sigma, cond), want, atol=1e-4)
    frames = model.decode(torch.randn(4, 4, 8, 8), ref)
    assert frames.shape == (4, 64, 64, 3) and frames.dtype == torch.uint8
    assert torch.equal(model.sigmas(2), torch.tensor([80.0, 0.3, 0.0]))
    assert model.sigmas(3)[-1] == 0 and len(model.sigmas(3)) == 4


def test_bad_checkpoint_paths_raise_input_error(tmp_path):
    with pytest.raises(InputError):
        AvatarModel.load(str(tmp_path / "missing.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        AvatarModel.load(str(tmp_path / "junk.safetensors"))
    with pytest.raises(InputError):
        AvatarModel.load(str(tmp_path))


def test_bf16_facade_runs(tmp_path):
    path, _, _ = small_bundle(tmp_path)
    model = AvatarModel.load(str(path), dtype="bf16")
    ref = model.prepare_reference(np.zeros((64, 64, 3), np.uint8))
    cond = Cond(model.audio_tokens(torch.zeros(1, 3000), 2), torch.zeros(1, 2, dtype=torch.long),
                torch.zeros(1, 2, 10), ref, None)
    lat = model.sample(cond, 2, steps=2, generator=torch.Generator().manual_seed(0))
    assert lat.shape == (1, 2, 4, 8, 8) and lat.dtype == torch.float32


def test_edm_loss_decreases_on_tiny_overfit():
    torch.manual_seed(0)
    den = Denoiser(DenoiserUNet(DEN), sigma_data=0.5)
    z = torch.randn(2, 2, 4, 8, 8) * 0.5
    cond = Cond(torch.randn(2, 2, 16), torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2, 10),
                Reference(latent=torch.zeros(2, 4, 8, 8)), None)
    opt = torch.optim.Adam(den.parameters(), lr=3e-3)
    sigma = torch.tensor([0.3, 1.0])

    def fixed_loss():
        with torch.no_grad():
            return edm_loss(den, z, sigma, cond, 0.5, torch.Generator().manual_seed(1)).item()

    before = fixed_loss()
    gen = torch.Generator().manual_seed(2)
    for _ in range(50):
        loss = edm_loss(den, z, sigma, cond, 0.5, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss() < 0.6 * before


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun, sample_consistency])
def test_samplers_are_deterministic_given_a_seed(sampler):
    torch.manual_seed(0)
    den = Denoiser(DenoiserUNet(DEN), 0.5).eval()
    cond = Cond(torch.randn(1, 2, 16), torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, 10),
                Reference(latent=torch.randn(1, 4, 8, 8)), None)
    sigmas = karras_sigmas(3, EDMConfig())

    def draw(seed):
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(1, 2, 4, 8, 8, generator=gen)
        with torch.no_grad():
            return sampler(den, noise, sigmas, cond, generator=gen)

    assert torch.equal(draw(5), draw(5))
    assert not torch.equal(draw(5), draw(6))


def test_samplers_reach_the_point_a_constant_denoiser_predicts():
    target = torch.full((1, 1, 4, 2, 2), 0.7)
    const = lambda x, sigma, cond: target.expand_as(x)                             # noqa: E731
    noise = torch.randn(1, 1, 4, 2, 2)
    for sampler in (sample_euler, sample_heun, sample_consistency):
        out = sampler(const, noise, karras_sigmas(4, EDMConfig()), None, torch.Generator().manual_seed(0))
        assert torch.allclose(out, target, atol=1e-5)


def test_ship_writes_a_half_precision_bundle_that_loads(tmp_path):
    from avatar.model_runtime.training.ship import ship
    path, cfg, _ = small_bundle(tmp_path)
    shipped = ship(str(path), str(tmp_path / "shipped" / "avatar.safetensors"))
    a = AvatarModel.load(str(path), dtype="fp32")
    b = AvatarModel.load(shipped, dtype="fp32")
    assert b.config == a.config
    ref = a.prepare_reference(np.full((64, 64, 3), 128, np.uint8))
    assert torch.allclose(a.audio_tokens(torch.ones(1, 4000) * 0.1, 2), b.audio_tokens(torch.ones(1, 4000) * 0.1, 2),
                          atol=1e-2)
    assert ref.latent.shape == (1, 4, 8, 8)


def test_default_checkpoint_loads_when_shipped():
    from avatar.model_runtime.avatar_model import default_checkpoint
    if not default_checkpoint().is_file():
        pytest.skip("no bundled checkpoint in this checkout yet")
    model = AvatarModel.load(None)
    assert model.size == 256 and model.latent_shape == (4, 32, 32)

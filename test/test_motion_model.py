"""The motion generator: motion corpus, network, training, samplers and the shipped checkpoint."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from corpus_helpers import small_config

from avatar.core import expression, face_motion
from avatar.core.errors import InputError
from avatar.model_runtime.corpus import speech
from avatar.model_runtime.corpus.build import build_corpus
from avatar.model_runtime.corpus.espeak import SpeechParams, Voice
from avatar.model_runtime.motion.generator import MotionGenerator, ScheduleDenoiser, default_motion_checkpoint
from avatar.model_runtime.motion.model import MotionConfig, MotionDenoiser, MotionNet
from avatar.model_runtime.motion.checkpoint import load_motion
from avatar.model_runtime.motion.data import load_arrays, motion_stats
from avatar.model_runtime.motion.train import fixed_batches, set_stats, train_motion, validation_loss
from avatar.model_runtime.samplers import sample_consistency, sample_heun
from avatar.model_runtime.training.loop import LoopConfig

TINY = MotionConfig(width=32, layers=1, heads=2, motion_frames=4, max_frames=8)


@pytest.fixture(scope="module")
def motion_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("motion_corpus")
    cfg = dataclasses.replace(small_config(out, hours=0.012), motion_only=True)
    meta = build_corpus(cfg)
    return out, meta


@pytest.fixture(scope="module")
def student():
    torch.set_num_threads(1)
    return MotionGenerator.load()


def test_motion_only_corpus_has_audio_and_ground_truth_but_no_video(motion_corpus):
    out, meta = motion_corpus
    assert meta["motion_only"] and all(meta["splits"][s] for s in ("train", "val", "test"))
    ids = {s: set(meta["identities"][s]) for s in ("train", "val", "test")}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"])
    for split, clips in meta["splits"].items():
        for clip in clips:
            folder = out / split / clip
            gt = json.loads((folder / "gt.json").read_text())
            assert not (folder / "video.mp4").exists() and (folder / "speech.wav").is_file()
            assert len(gt["viseme_rounding"]) == gt["n_frames"] == len(gt["frames"]["mouth_open"])
            spk = np.asarray(gt["frames"]["state"]) == 2
            assert np.all(np.asarray(gt["viseme_rounding"])[~spk] == 0)
    assert not list((out / "identities").glob("*.png"))


def test_tiny_config_trains_and_the_loss_falls(motion_corpus, tmp_path):
    out, _ = motion_corpus
    loop = LoopConfig(out=str(tmp_path / "run"), steps=150, batch=32, lr=3e-3, ema=0.9, threads=1, save_minutes=100)
    train_motion(str(out), loop, cfg=TINY)
    assert "val_loss(ema)" in (tmp_path / "run" / "train.log").read_text()
    trained, audio, extra = load_motion(tmp_path / "run" / "model.safetensors")
    assert extra["step"] == 150 and trained.cfg.width == 32 and torch.all(trained.target_std > 0)
    data = load_arrays(out, "train", audio)
    fresh = MotionNet(TINY)
    set_stats(fresh, motion_stats(data))
    batches = fixed_batches(data, trained, 32)
    before, after = validation_loss(MotionDenoiser(fresh), batches), validation_loss(MotionDenoiser(trained), batches)
    assert after < 0.8 * before, (before, after)


def random_context(net: MotionNet, b: int, t: int, valid: int):
    cfg = net.cfg
    g = torch.Generator().manual_seed(t)
    return net.context(torch.randn(b, t, cfg.audio_dim, generator=g), torch.randint(0, 3, (b, t), generator=g),
                       torch.rand(b, t, cfg.expr_dim, generator=g), torch.randn(b, cfg.motion_frames, cfg.dim, generator=g),
                       torch.full((b,), valid))


@pytest.mark.parametrize("sampler", [sample_consistency, sample_heun])
def test_samplers_give_motion_shaped_clips(sampler):
    torch.manual_seed(0)
    net = MotionNet(TINY).eval()
    with torch.no_grad():
        ctx = random_context(net, 3, 5, valid=2)
        noise = torch.randn(3, 5, TINY.dim, generator=torch.Generator().manual_seed(1))
        sigmas = torch.tensor([80.0, 1.0, 0.0])
        y = sampler(MotionDenoiser(net), noise, sigmas, ctx, generator=torch.Generator().manual_seed(2))
    assert y.shape == (3, 5, TINY.dim) and torch.isfinite(y).all()


def test_network_is_causal_over_frames():
    """A change at frame 3 (its audio and its noisy motion) leaves frames 0..2 unchanged."""
    torch.manual_seed(0)
    net = MotionNet(TINY).eval()
    for p in net.parameters():          # zero-initialised heads would make every output zero
        p.data.add_(0.1 * torch.randn_like(p))
    with torch.no_grad():
        ctx = random_context(net, 1, 6, valid=4)
        x = torch.randn(1, 6, TINY.dim)
        base = net(x, torch.zeros(1), ctx)
        x2, ctx2 = x.clone(), ctx.clone()
        x2[:, 3] += 1.0
        ctx2[:, TINY.motion_frames + 3] += 1.0
        moved = net(x2, torch.zeros(1), ctx2)
    torch.testing.assert_close(moved[:, :3], base[:, :3])
    assert (moved[:, 3:] - base[:, 3:]).abs().max() > 1e-3


def test_fast_inference_path_matches_the_eager_denoiser(student):
    eager = MotionDenoiser(student.net)
    fast = ScheduleDenoiser(student.net)
    with torch.no_grad():
        for t in (1, 5, 16):
            ctx = random_context(student.net, 1, t, valid=8)
            x = torch.randn(1, t, face_motion.DIM)
            for sigma in (80.0, 1.5, 0.01):
                s = torch.tensor([sigma])
                torch.testing.assert_close(fast(x, s, ctx), eager(x, s, ctx), atol=1e-4, rtol=1e-4)


def clip_inputs(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    expr = torch.zeros(1, n, expression.DIM)
    expr[..., expression.INDEX["smile"]] = 0.5
    return torch.randn(1, n, 128, generator=g), torch.full((1, n), 2), expr


def test_generate_shapes_ranges_and_determinism(student):
    assert student.kind == "student" and student.motion_frames == 8
    assert student.audio_lookahead_ms == 80.0 and student.audio_context_frames > 0
    tokens, states, expr = clip_inputs(8)
    run = lambda seed, hist=None: student.generate(tokens, states, expr, hist, 2, torch.Generator().manual_seed(seed))  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert a.shape == (8, face_motion.DIM) and a.dtype == np.float32
    assert np.all(a >= face_motion.LOW) and np.all(a <= face_motion.HIGH)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0
    # the commanded smile is in the output as commanded (the generated part adds little to it)
    assert np.all(a[:, face_motion.INDEX["mouthSmileLeft"]] > 0.35)
    for hist in (a[None], a[None, -3:], a[-2:]):                     # full, partial history
        assert run(3, hist).shape == (8, face_motion.DIM)
    for steps in (1, 4):
        assert student.generate(tokens[:, :1], states[:, :1], expr[:, :1], a[None], steps,
                                torch.Generator().manual_seed(0)).shape == (1, face_motion.DIM)
    with pytest.raises(InputError):
        student.generate(tokens, states[:, :3], expr, None, 2, torch.Generator())


def test_shipped_student_opens_the_jaw_more_in_speech_than_in_silence(student):
    utt = speech.speak("We should probably have lunch on the boat tomorrow.",
                       SpeechParams(voice=Voice("gmw/en-US", "m3"), rate=170, pitch=50, range=50), peak=0.7)
    hop, pad = 640, 25 * 640
    n = (len(utt.wave) + 2 * pad) // hop
    wave = np.zeros(n * hop, np.float32)
    wave[pad:pad + len(utt.wave)] = utt.wave[:n * hop - pad]
    tokens = student.features(torch.from_numpy(wave)[None], n)                       # (1, n, D)
    states = torch.full((1, n), 2)                                                  # audio alone decides
    expr = torch.zeros(1, n, expression.DIM)
    jaw, history = [], None
    for a in range(0, n, 8):
        m = student.generate(tokens[:, a:a + 8], states[:, a:a + 8], expr[:, a:a + 8], history, 2,
                             torch.Generator().manual_seed(a))
        history = m[None, -8:]
        jaw.append(m[:, face_motion.INDEX["jawOpen"]])
    jaw = np.concatenate(jaw)
    frames = np.arange(n)
    voiced = (frames >= pad // hop + 3) & (frames < (pad + len(utt.wave)) // hop - 3)
    silent = (frames < pad // hop - 3) | (frames >= (pad + len(utt.wave)) // hop + 5)
    assert jaw[voiced].mean() > 0.15 and jaw[voiced].mean() > 4 * jaw[silent].mean(), \
        (jaw[voiced].mean(), jaw[silent].mean())


def test_shipped_checkpoints_are_small():
    for name in ("motion.safetensors", "motion_teacher.safetensors"):
        assert default_motion_checkpoint(name).stat().st_size < 5e6


def test_eval_cli_scores_a_checkpoint_on_held_out_clips(motion_corpus, capsys):
    from avatar.cli.main import main
    out, _ = motion_corpus
    assert main(["eval", "--motion", str(default_motion_checkpoint()), "--corpus", str(out), "--steps", "1",
                 "--clips", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["models"].values()
    assert report["split"] == "test" and report["clips"] == 1 and report["seeds"] == 3
    assert -1 <= row["jaw"]["r_lag0"] <= 1 and row["drift_10min"]["worst_mean_channel"] in face_motion.NAMES
    assert main(["eval", "--motion", str(out / "missing.safetensors"), "--corpus", str(out)]) == 1

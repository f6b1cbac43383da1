"""A small rendered corpus: file format, splits, ground truth and the reader."""
import json
import subprocess
import sys

import numpy as np
import pytest
from corpus_helpers import build_small, small_config

from avatar.core.errors import InputError
from avatar.model_runtime.corpus import speech
from avatar.model_runtime.corpus.build import build_corpus
from avatar.model_runtime.corpus.reader import decode_video, open_corpus
from avatar.model_runtime.corpus.sentences import split_of
from avatar.model_runtime.corpus.writer import write_video

FRAME_KEYS = ("mouth_open", "mouth_width", "smile", "brow", "eye_open", "gaze_x", "gaze_y",
              "head_yaw", "head_pitch", "head_roll", "state", "expression")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    build_small(out)
    return open_corpus(out)


def all_clips(corpus):
    return [c for s in ("train", "val", "test") for c in corpus.split(s)]


def test_meta_and_layout(corpus):
    meta = corpus.meta
    assert meta["fps"] == 25 and meta["sample_rate"] == 16000 and meta["size"] == 128
    assert all(meta["splits"][s] for s in ("train", "val", "test"))
    assert meta["identity_combinations"] > 100_000
    assert meta["render_stats"]["frames_rendered"] == sum(c.n_frames for c in all_clips(corpus))
    for split, idents in meta["identities"].items():
        for ident in idents:
            img = corpus.identity_image(ident)
            assert img.shape == (128, 128, 3) and img.dtype == np.uint8
            assert corpus.identity_params(ident)["name"] == ident


def test_splits_are_disjoint_by_identity_sentence_and_voice(corpus):
    idents = {s: set(v) for s, v in corpus.meta["identities"].items()}
    assert not (idents["train"] & idents["val"] or idents["train"] & idents["test"]
                or idents["val"] & idents["test"])
    texts = {"train": set(), "val": set(), "test": set()}
    for clip in all_clips(corpus):
        assert clip.identity in idents[clip.split]
        for text in clip.gt["sentences"] + clip.gt["user_sentences"]:
            assert split_of(text) == clip.split
            texts[clip.split].add(text)
        variants = {v["voice"].split("+")[1] for k in ("speech", "user") for v in clip.gt["voices"][k]}
        allowed = speech.TEST_VARIANTS if clip.split == "test" else speech.TRAIN_VARIANTS
        assert variants <= set(allowed)
    assert not (texts["train"] & texts["val"] or texts["train"] & texts["test"]
                or texts["val"] & texts["test"])


def test_ground_truth_lengths_match_video_and_audio(corpus):
    for clip in all_clips(corpus):
        gt, n = clip.gt, clip.n_frames
        assert set(FRAME_KEYS) <= set(gt["frames"])
        for key in FRAME_KEYS:
            assert len(gt["frames"][key]) == n, key
        assert all(len(row) == 10 for row in gt["frames"]["expression"])
        frames = clip.load_frames()
        assert frames.shape == (n, 128, 128, 3)
        assert clip.load_speech().shape == (n * 640,) and clip.load_user().shape == (n * 640,)
        assert gt["segments"][0]["start"] == 0 and gt["segments"][-1]["end"] == pytest.approx(n / 25)


def test_mouth_opens_only_when_speaking(corpus):
    by_state = {0: [], 1: [], 2: []}
    for clip in all_clips(corpus):
        f = clip.gt["frames"]
        for s, m in zip(f["state"], f["mouth_open"]):
            by_state[s].append(m)
    assert by_state[2] and by_state[1] and by_state[0]
    speaking = np.mean(by_state[2])
    assert speaking > 0.15
    assert max(np.mean(by_state[0]), np.mean(by_state[1])) < 0.05 * speaking


def test_audio_matches_states(corpus):
    """Speech audio only in speaking segments, user audio only in listening ones."""
    codes = {"idle": 0, "listening": 1, "speaking": 2}
    for clip in all_clips(corpus):
        sp, us = np.abs(clip.load_speech()), np.abs(clip.load_user())
        state = np.zeros(len(sp), np.int64)
        for seg in clip.gt["segments"]:
            state[round(seg["start"] * 16000):round(seg["end"] * 16000)] = codes[seg["state"]]
        assert sp[state != 2].max(initial=0) < 1e-3 and sp[state == 2].max() > 0.3
        assert us[state != 1].max(initial=0) < 1e-3
        spans = [(g["start"], g["end"]) for g in clip.gt["segments"] if g["state"] == "speaking"]
        for t, _ in clip.gt["phonemes"]:  # the last event of a sentence sits on its end
            assert any(a - 1e-3 <= t <= b + 1e-3 for a, b in spans)


def test_reader_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.zeros((12, 64, 64, 3), np.uint8)
    frames[:] = rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8).repeat(8, 1).repeat(8, 2)
    frames[:, :, :, 0] += np.arange(12, dtype=np.uint8)[:, None, None] * 10
    assert write_video(tmp_path / "v.mp4", iter(frames)) == 12
    back = decode_video(tmp_path / "v.mp4")
    assert back.shape == frames.shape
    mse = np.mean((back.astype(float) - frames) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 30


def test_bad_config_raises_input_error(tmp_path):
    for kw in ({"hours": 0}, {"size": 100}, {"workers": 0}, {"seed": -1}):
        cfg = small_config(tmp_path / "c")
        with pytest.raises(InputError):
            build_corpus(cfg.__class__(**{**cfg.__dict__, **kw}))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(InputError):
        build_corpus(small_config(tmp_path / "busy"))


@pytest.mark.parametrize("args", [["--hours", "-1"], ["--size", "257"], ["--workers", "0"]])
def test_cli_bad_arguments_print_one_line(tmp_path, args):
    cmd = [sys.executable, "-m", "avatar.cli.main", "corpus", "--out", str(tmp_path / "c"), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("avatar corpus: error:")


def test_resume_keeps_finished_clips(tmp_path):
    meta = build_small(tmp_path / "c", hours=0.003)
    gt = tmp_path / "c" / "train" / meta["splits"]["train"][0] / "gt.json"
    before = gt.read_bytes()
    again = build_small(tmp_path / "c", hours=0.003)
    assert again["render_stats"]["clips_resumed"] == again["render_stats"]["clips_total"]
    assert gt.read_bytes() == before
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["splits"] == meta["splits"]

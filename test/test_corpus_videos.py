"""`avatar corpus --from-videos` on MP4s muxed from the project's own renders, and Haar faces."""
import cv2
import numpy as np
import pytest
from corpus_helpers import build_small, mux_clip

from avatar.core.errors import InputError
from avatar.model_runtime.corpus.from_videos import import_videos
from avatar.model_runtime.corpus.haar import HaarCascade
from avatar.model_runtime.corpus.reader import open_corpus


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A rendered clip whose identity the Haar cascade finds, muxed to a 30 fps AAC MP4."""
    root = tmp_path_factory.mktemp("videos")
    build_small(root / "corpus", seed=5, hours=0.006)
    corpus, cascade = open_corpus(root / "corpus"), HaarCascade()
    for clip in [c for s in ("train", "val", "test") for c in corpus.split(s)]:
        gray = cv2.cvtColor(corpus.identity_image(clip.identity), cv2.COLOR_RGB2GRAY)
        if len(cascade.detect(gray, min_neighbors=3, min_size=40)):
            break
    else:
        pytest.fail("no identity in the small corpus is found by the Haar cascade")
    frames, wave = clip.load_frames()[:100], clip.load_speech()[:100 * 640]
    (root / "in").mkdir()
    mux_clip(frames, wave, root / "in" / "talk one.mp4")
    return root, frames, wave


def test_import_matches_source(source):
    root, frames, wave = source
    meta = import_videos(str(root / "in"), str(root / "out"), size=128)
    assert meta["splits"]["train"] == ["talk_one_000"] and meta["identities"]["train"] == ["talk_one"]
    clip = open_corpus(root / "out").split("train")[0]
    assert clip.gt["frames"] == {} and clip.gt["segments"][0]["state"] == "unknown"
    video = clip.load_frames()
    assert abs(len(video) - len(frames)) <= 1 and video.shape[1:] == (128, 128, 3)
    speech = clip.load_speech()
    assert speech.shape == (clip.n_frames * 640,) and not clip.load_user().any()
    # PyAV's AAC encoder leaves its 1024 priming samples (23 ms) in the file, so
    # the audio may trail by up to one 10 ms step more than that
    hop = 160
    env = lambda w: np.sqrt((w[:len(w) // hop * hop].reshape(-1, hop) ** 2).mean(1))  # noqa: E731
    a, b = env(speech), env(wave)
    n = min(len(a), len(b)) - 10
    r = {lag: np.corrcoef(a[lag:lag + n], b[:n])[0, 1] for lag in range(0, 6)}
    best = max(r, key=r.get)
    assert r[best] > 0.9 and best * hop / 16000 <= 0.035
    portrait = open_corpus(root / "out").identity_image("talk_one")
    gray = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
    faces = HaarCascade().detect(gray, min_neighbors=3, min_size=30)
    assert len(faces) == 1
    x, y, w, h = faces[0]
    assert abs(x + w / 2 - 64) < 16 and 35 < w < 90   # centred, head filling the frame


def test_videos_without_face_or_audio_are_refused(tmp_path):
    blank = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (96, 1, 3))
    (tmp_path / "a").mkdir()
    mux_clip(np.repeat(blank[None], 30, 0), np.zeros(30 * 640, np.float32), tmp_path / "a" / "x.mp4")
    with pytest.raises(InputError, match="no face"):
        import_videos(str(tmp_path / "a"), str(tmp_path / "out_a"))
    with pytest.raises(InputError):
        import_videos(str(tmp_path / "missing"), str(tmp_path / "out_b"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no videos"):
        import_videos(str(tmp_path / "empty"), str(tmp_path / "out_c"))


def test_haar_finds_nothing_in_noise():
    noise = np.random.default_rng(0).integers(0, 256, (120, 160), dtype=np.uint8)
    assert len(HaarCascade().detect(noise, min_neighbors=3)) == 0

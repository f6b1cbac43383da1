"""Any portrait through the engine and `avatar render`: framing kept, outside pixels untouched,
face-motion tracks in and out, clear errors for portraits without a usable face."""
import json
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
import skimage.data

from avatar.core import face_motion as fm
from avatar.core import motion_track
from avatar.model_runtime.engine.motion_source import ExplicitMotion
from avatar.model_runtime.engine.offline import offline_engine, render_frames
from avatar.model_runtime.engine.timeline import FrameInputs
from avatar.model_runtime.renderers import load_renderer
from portrait_cases import full_body


def avatar(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "avatar.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def talking_track(n: int) -> np.ndarray:
    """(n, DIM): jaw opening and closing, a blink, a smile and a small head turn."""
    t = np.arange(n) / 25
    m = np.tile(fm.neutral(), (n, 1))
    m[:, fm.INDEX["jawOpen"]] = 0.5 * np.clip(np.sin(2 * np.pi * 2.5 * t), 0, 1)
    m[10:13, fm.INDEX["eyeBlinkLeft"]] = m[10:13, fm.INDEX["eyeBlinkRight"]] = 1.0
    m[:, fm.INDEX["mouthSmileLeft"]] = m[:, fm.INDEX["mouthSmileRight"]] = 0.3
    m[:, fm.INDEX["headYaw"]] = 0.1 * np.sin(2 * np.pi * t)
    return m


@pytest.fixture(scope="module")
def warp():
    return load_renderer("warp", 256)


@pytest.mark.parametrize("image", [skimage.data.astronaut(), full_body()], ids=["head_shot", "full_body"])
def test_frames_keep_the_portrait_and_its_outside_pixels(warp, image):
    n = 20
    track = talking_track(n)
    engine = offline_engine(warp, ExplicitMotion(), image, steps=2, seed=0, clip=8, max_side=1024)
    face = engine.prepare_face(image)
    inputs = FrameInputs.of(np.zeros(0, np.float32), n, np.full(n, 2), motion=track)      # silence, speaking
    frames = render_frames(engine, inputs)                                     # (n, H, W, 3)
    portrait = face.portrait.image
    assert frames.shape == (n, *portrait.shape)
    h, w = portrait.shape[:2]
    assert max(h, w) <= 1024 and h % 2 == 0 and w % 2 == 0
    # Everything outside the paste region is the portrait's own, byte for byte.
    outside = np.ones((h, w), bool)
    x0, y0, x1, y1 = face.aligned.region.box
    outside[y0:y1, x0:x1] = False
    assert outside.mean() > 0.3
    assert np.array_equal(frames[:, outside], np.broadcast_to(portrait[outside], frames[:, outside].shape))
    # ... and the face does move.
    inside = frames[:, y0:y1, x0:x1].astype(np.float32)
    assert np.abs(inside - inside[:1]).max(axis=(1, 2, 3)).max() > 40


def test_render_draws_a_motion_track_and_saves_it(tmp_path):
    image, track_in, track_out = tmp_path / "astronaut.png", tmp_path / "in.json", tmp_path / "out.json"
    cv2.imwrite(str(image), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    n = 30
    motion_track.save(track_in, talking_track(n))
    wav = tmp_path / "silence.wav"
    import soundfile as sf
    sf.write(wav, np.zeros(n * 640, np.float32), 16000)
    out = tmp_path / "o.mp4"
    r = avatar("render", "--image", image, "--audio", wav, "--out", out, "--motion", track_in,
               "--motion-out", track_out, "--size", 256)
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == n and frames[0].shape == (512, 512, 3)        # the astronaut photo's own size
    saved = json.loads(track_out.read_text())
    assert saved["names"] == list(fm.NAMES)
    assert np.allclose(np.asarray(saved["frames"]), talking_track(n), atol=1e-4)


@pytest.mark.parametrize("image,needle", [
    (skimage.data.coffee(), "no face found"),
    (np.full((8, 8, 3), 128, np.uint8), "too small"),
], ids=["no_face", "tiny"])
def test_render_refuses_a_portrait_without_a_usable_face(tmp_path, image, needle):
    path, wav = tmp_path / "p.png", tmp_path / "s.wav"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    import soundfile as sf
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    r = avatar("render", "--image", path, "--audio", wav, "--out", tmp_path / "o.mp4", "--size", 256)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0].lower(), lines[0]
    assert not (tmp_path / "o.mp4").exists()


def test_render_refuses_an_existing_or_unwritable_output_before_loading(tmp_path):
    import soundfile as sf
    wav = tmp_path / "s.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    existing = tmp_path / "old.mp4"
    existing.write_bytes(b"keep me")
    (tmp_path / "dir.mp4").mkdir()
    cases = ((existing, "exists"), (tmp_path / "dir.mp4", "directory"), (tmp_path / "no" / "o.mp4", "does not exist"))
    for out, needle in cases:
        r = avatar("render", "--audio", wav, "--out", out, "--size", 256)
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert r.returncode != 0 and len(lines) == 1 and needle in lines[0], r.stderr
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.mp4", "old.mp4", "s.wav"]   # no partial files

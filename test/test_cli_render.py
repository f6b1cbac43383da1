"""`avatar render` end to end (tiny model) and its table of bad inputs."""
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile as sf

from engine_fixtures import save_portrait, save_tiny_checkpoint


def avatar(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "avatar.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("render")
    wav = d / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello there, I am your robot."], check=True)
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "silent0.wav", np.zeros(0, np.float32), 16000)
    (d / "noise.txt").write_text("not audio at all")
    (d / "track.json").write_text('[{"t": 0, "expression": "neutral"}, {"t": 0.8, "smile": 0.7, "head_nod": 0.3}]')
    (d / "badtrack.json").write_text('[{"t": 0, "grin": 1}]')
    (d / "broken.json").write_text('[{"t": 0,')
    return {"ckpt": save_tiny_checkpoint(d / "tiny.safetensors"), "image": save_portrait(d / "face.png"),
            "wav": wav, "dir": d}


def _decode(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    return np.stack(frames), audio / rate


def test_render_writes_synced_video_and_is_deterministic(files):
    outs = []
    for name in ("a", "b"):
        out = files["dir"] / f"{name}.mp4"
        r = avatar("render", "--audio", files["wav"], "--out", out, "--image", files["image"], "--size", 64,
                   "--renderer", "diffusion", "--framing", "whole", "--checkpoint", files["ckpt"], "--seed", 7, "--dtype", "fp32", "--expression", "smile=0.5")
        assert r.returncode == 0, r.stderr
        outs.append(_decode(out))
    samples = sf.info(str(files["wav"])).duration
    n = int(np.ceil(samples * 25 - 1e-9))
    (va, da), (vb, db) = outs
    assert abs(len(va) - n) <= 1 and va.shape[1:] == (64, 64, 3)
    assert abs(da - len(va) / 25) < 0.08
    assert np.array_equal(va, vb), "same seed must give the same video"


def test_render_with_an_expression_track(files):
    out = files["dir"] / "track.mp4"
    r = avatar("render", "--audio", files["wav"], "--out", out, "--image", files["image"], "--size", 64,
               "--renderer", "diffusion", "--framing", "whole", "--checkpoint", files["ckpt"], "--dtype", "fp32",
               "--expression", files["dir"] / "track.json")
    assert r.returncode == 0, r.stderr
    frames, _ = _decode(out)
    assert len(frames) > 25


BAD = [
    (["--audio", "{dir}/missing.wav"], "not found"),
    (["--audio", "{dir}/empty.wav"], ""),
    (["--audio", "{dir}/silent0.wav"], ""),
    (["--audio", "{dir}/noise.txt"], ""),
    (["--audio", "{wav}", "--image", "{dir}/noise.txt"], "image"),
    (["--audio", "{wav}", "--size", "100"], "multiple of 32"),
    (["--audio", "{wav}", "--out", "{dir}/o.avi"], ".mp4"),
    (["--audio", "{wav}", "--expression", "bogus=1"], "bogus"),
    (["--audio", "{wav}", "--expression", "notanexpression"], "notanexpression"),
    (["--audio", "{wav}", "--expression", "{dir}/missing.json"], "not found"),
    (["--audio", "{wav}", "--expression", "{dir}/broken.json"], "not valid JSON"),
    (["--audio", "{wav}", "--expression", "{dir}/badtrack.json"], "grin"),
    (["--audio", "{wav}", "--device", "cuda"], "CUDA"),
    (["--audio", "{wav}", "--checkpoint", "{dir}/noise.txt"], "checkpoint"),
]


@pytest.mark.parametrize("extra,needle", BAD)
def test_bad_input_gives_one_error_line(files, extra, needle):
    args = [a.format(dir=files["dir"], wav=files["wav"]) for a in extra]
    if "--out" not in args:
        args += ["--out", str(files["dir"] / "bad.mp4")]
    if "--image" not in args:
        args += ["--image", files["image"]]
    if "--checkpoint" not in args:
        args += ["--checkpoint", files["ckpt"]]
    args += ["--renderer", "diffusion", "--framing", "whole"]
    r = avatar("render", *args)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle.lower() in lines[0].lower(), lines[0]

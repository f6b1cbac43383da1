"""`avatar eval` rejects bad input with one error line and exit code 1 (no weights needed)."""
import json
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile as sf

from avatar.cli.main import main


def write_mp4(path, frames, audio=None, fps=25):
    """H.264 video from (T, H, W, 3) uint8 frames, optionally with 16 kHz mono AAC audio."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        streams = [vs]
        if audio is not None:
            aud = out.add_stream("aac", rate=16000, layout="mono")
            streams.append(aud)
        for f in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        if audio is not None:
            af = av.AudioFrame.from_ndarray(audio[None].astype(np.float32), format="flt", layout="mono")
            af.sample_rate = 16000
            for p in aud.encode(af):
                out.mux(p)
        for s in streams:
            for p in s.encode(None):
                out.mux(p)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    frames = np.random.default_rng(0).integers(0, 255, (30, 64, 64, 3), dtype=np.uint8)
    write_mp4(d / "silent.mp4", frames)
    sf.write(d / "speech.wav", np.zeros(30 * 640, np.float32), 16000)
    sf.write(d / "short.wav", np.zeros(5 * 640, np.float32), 16000)
    keys = ("mouth_open", "mouth_width", "smile", "brow", "eye_open", "gaze_x", "gaze_y",
            "head_yaw", "head_pitch", "head_roll", "state")
    gt = {"frames": {k: [0.0] * 29 for k in keys} | {"expression": [[0.0] * 10] * 29}}
    (d / "gt_short.json").write_text(json.dumps(gt))
    (d / "bad.json").write_text("{not json")
    (d / "notes.txt").write_text("hello")
    return d


def run_eval(capsys, *args):
    rc = main(["eval", *map(str, args)])
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize("args, message", [
    (["--video", "{d}/missing.mp4"], "video not found"),
    (["--video", "{d}/notes.txt"], "cannot decode video"),
    (["--video", "{d}/speech.wav", "--audio", "{d}/speech.wav"], "no video stream"),
    (["--video", "{d}/silent.mp4"], "no audio track"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/missing.wav"], "not found"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/short.wav"], "they must match"),
    (["--video", "{d}/silent.mp4", "--gt", "{d}/gt_short.json"], "length mismatch"),
    (["--video", "{d}/silent.mp4", "--gt", "{d}/bad.json"], "not valid JSON"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/speech.wav", "--reference", "{d}/notes.txt"],
     "cannot read image"),
    (["--train-estimator"], "needs --corpus"),
    ([], "--video is required"),
])
def test_bad_input_is_one_line_exit_1(clip, capsys, args, message):
    rc, err = run_eval(capsys, *[a.format(d=clip) for a in args])
    assert rc == 1
    assert len(err.splitlines()) == 1 and message in err, err


def test_subprocess_error_has_no_traceback(clip):
    res = subprocess.run([sys.executable, "-m", "avatar.cli.main", "eval", "--video", str(clip / "notes.txt")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and res.stderr.startswith("avatar eval: error:")

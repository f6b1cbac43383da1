"""`avatar eval` rejects bad input with one error line and exit code 1 (no weights needed)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from avatar.cli.main import main
from avatar.model_runtime.corpus.writer import write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    frames = np.random.default_rng(0).integers(0, 255, (30, 64, 64, 3), dtype=np.uint8)
    write_video(d / "silent.mp4", frames)             # H.264, no audio track
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
    (["--video", "{d}/silent.mp4", "--audio", "{d}/speech.wav", "--user-audio", "{d}/short.wav"],
     "they must match"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/missing.wav"], "not found"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/short.wav"], "they must match"),
    (["--video", "{d}/silent.mp4", "--gt", "{d}/gt_short.json"], "length mismatch"),
    (["--video", "{d}/silent.mp4", "--gt", "{d}/bad.json"], "not valid JSON"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/speech.wav", "--reference", "{d}/notes.txt"],
     "cannot read image"),
    (["--train-estimator"], "needs --corpus"),
    (["--score-estimator", "--corpus", "{d}"], "not a corpus"),
    (["--video", "{d}/silent.mp4", "--audio", "{d}/speech.wav", "--max-lag", "-1"], "max_lag"),
    ([], "--video is required"),
    (["--model", "{d}/m.safetensors"], "needs --corpus"),
    (["--model", "{d}/m.safetensors", "--corpus", "{d}"], "not a corpus"),
    (["--model", "{d}/m.safetensors", "--corpus", "{d}", "--sample-steps", "two"], "--sample-steps"),
    (["--model", "{d}/m.safetensors", "--corpus", "{d}", "--sample-steps", "0,2"], "1..8"),
    (["--model", "{d}/m.safetensors", "--corpus", "{d}", "--clips", "-3"], "--clips"),
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

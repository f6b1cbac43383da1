"""The README's main job with the bundled models: mouth motion follows the speech.

`avatar launch --speech <espeak file> --display none --record out.mp4 --duration 15` runs the
whole graph on the default path (motion generator + warp renderer, bundled portrait). In the
recording, the inner-lip aperture that mediapipe's face mesh measures must move more while
the recorded speech is voiced than while it is silent. Speech frames come from silero-vad on
the MP4's own audio track, so A/V alignment is part of it.
"""
import subprocess
import sys

import numpy as np
import pytest
from av_fixtures import decode_mp4

from avatar.core.states import frames_from_segments, recording_states
from avatar.core.vad import VadConfig
from avatar.model_runtime.evaluation.real_speech import mesh_signals

pytestmark = [pytest.mark.ros, pytest.mark.slow]
DURATION = 15.0
MARGIN = 3          # frames next to a speech boundary are left out (the mouth closes after speech)


def mouth_motion(aperture: np.ndarray, speaking: np.ndarray) -> tuple[float, float]:
    """Mean |Δ aperture| per frame over frame pairs well inside speech and well inside silence."""
    change = np.flatnonzero(np.diff(speaking.astype(int)) != 0)
    near = np.zeros(len(speaking), bool)
    for c in change:
        near[max(0, c - MARGIN):c + MARGIN + 2] = True
    step = np.abs(np.diff(aperture))
    inside = ~(near[1:] | near[:-1])
    both_speech = speaking[1:] & speaking[:-1] & inside
    both_silent = ~speaking[1:] & ~speaking[:-1] & inside
    return float(step[both_speech].mean()), float(step[both_silent].mean())


def test_mouth_moves_with_speech(tmp_path):
    speech = tmp_path / "speech.wav"
    text = "Hello there. I am the avatar on this kiosk, and my mouth should follow every word I say."
    subprocess.run(["espeak-ng", "-g", "4", "-w", str(speech), text], check=True)
    out = tmp_path / "out.mp4"
    launch = subprocess.run([sys.executable, "-m", "avatar.cli.main", "launch", "--speech", str(speech),
                             "--display", "none", "--record", str(out), "--duration", str(DURATION)],
                            timeout=DURATION + 90, capture_output=True, text=True)
    assert launch.returncode == 0, launch.stderr[-2000:]
    rec = decode_mp4(str(out))
    frames = np.stack(rec["frames"])
    # At least the 15 s after the graph is up; the recorder starts earlier, and how much earlier
    # depends on the machine's load (seen: 19 s recorded with a CPU hog on the other core).
    assert 25 * (DURATION - 2) <= len(frames) <= 25 * (DURATION + 10), len(frames)
    audio = rec["audio"].astype(np.float32)
    assert abs(len(audio) / 16000 - len(frames) / 25) < 0.5                # audio of the right length
    speaking = frames_from_segments(recording_states(audio, None, VadConfig()), len(frames)) == 2
    assert 25 <= speaking.sum() <= len(frames) - 25, "the recording should hold speech and silence"
    lips = mesh_signals(frames).lips
    assert np.isfinite(lips).mean() > 0.9, "the face mesh lost the face in the recording"
    aperture = np.nan_to_num(lips, nan=float(np.nanmedian(lips)))
    during, silent = mouth_motion(aperture, speaking)
    print(f"\n[e2e] mouth motion per frame: speech {during:.4f}, silence {silent:.4f}")
    assert during > 2.0 * silent, (during, silent)

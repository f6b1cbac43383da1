"""End-to-end A/V offset of face_display (window mode), measured through a loopback.

The source publishes frames that flash white once a second and audio with a click
at exactly the same stamps; frames arrive 200 ms after their stamp (a frame
generator's latency), audio in real time. face_display plays the audio into a
private PulseAudio null sink and shows the frames on a private Xvfb. One ffmpeg
process records the sink's monitor and the screen, both stamped with the wall
clock (-copyts), so the offset is flash time on screen minus click time in the
sound: positive = picture late. It includes the whole path (PortAudio/ALSA/Pulse
latency reporting, SDL's flip, the X server), not just the scheduler.

Needs pulseaudio + libasound2-plugins (ALSA's pulse plugin). Timing on a loaded
2-core machine is noisy, so the bound is twice the 40 ms target: it catches a
missing or wrong-signed delay (which would show ~200 ms), and the test prints
the measured numbers for BENCHMARKS.md.
"""
import os
import shutil
import signal
import subprocess
import time

import av
import numpy as np
import pytest
from av_fixtures import FPS, RATE, Source, click_track, onsets_s, ros_setup, start_node, stop_node, xvfb

pytestmark = [pytest.mark.ros, pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("pulseaudio"), reason="needs pulseaudio (loopback sound)")]
FLASH_EVERY = 25            # frames: one flash per second, at frame 12, 37, ...
W, H = 320, 240


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


def _frame(i: int) -> np.ndarray:
    value = 255 if i % FLASH_EVERY == FLASH_EVERY // 2 else 40
    return np.full((128, 128, 3), value, np.uint8)


def _start_pulse(tmp_path):
    run = tmp_path / "pulse"
    run.mkdir(mode=0o700)
    sock = run / "native"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run), HOME=str(run))
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         "-L", "module-null-sink sink_name=loop rate=16000 channels=1",
         "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "pulseaudio did not start"
        time.sleep(0.05)
    return proc, f"unix:{sock}"


def _capture(display: str, server: str, out) -> subprocess.Popen:
    """Record until SIGINT. A 32x32 patch in the middle of the face is enough to see the
    flash; 100 grabs/s bound the quantisation to 10 ms. -copyts keeps both inputs on the
    wall clock (so no -t: it would count from the epoch)."""
    return subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-y", "-copyts",
         "-thread_queue_size", "256", "-f", "x11grab", "-framerate", "100", "-video_size", "32x32",
         "-grab_x", str(W // 2 - 16), "-grab_y", str(H // 2 - 16), "-i", display,
         "-thread_queue_size", "256", "-f", "pulse", "-server", server, "-sample_rate", str(RATE),
         "-channels", "1", "-i", "loop.monitor", "-c:v", "rawvideo", "-c:a", "pcm_s16le", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _events(path) -> tuple[list[float], list[float]]:
    """Wall-clock times (s) of flash onsets on screen and of click onsets in the sound."""
    flashes, prev_t, prev_bright = [], None, False
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            t = float(f.pts * f.time_base)
            bright = f.to_ndarray(format="rgb24").mean() > 128
            if bright and not prev_bright and prev_t is not None:
                flashes.append((prev_t + t) / 2)          # it appeared between two grabs
            prev_t, prev_bright = t, bright
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    # Per-sample wall time from each packet's own stamp: the capture may have gaps.
    times = np.concatenate([float(f.pts * f.time_base) + np.arange(f.samples) / RATE for f in frames])
    return flashes, [float(times[round(s * RATE)]) for s in onsets_s(samples)]


def _pair(flashes, clicks) -> list[float]:
    return [(f - c) * 1000 for c in clicks for f in flashes if abs(f - c) < 0.45]


def test_av_offset_through_loopback(ros, tmp_path):
    seconds = 10.0
    pulse, server = _start_pulse(tmp_path)
    try:
        with xvfb(W, H) as display:
            env = dict(ros, DISPLAY=display, PULSE_SERVER=server)
            capture = None
            proc = start_node("face_display", {"mode": "window", "audio_device": "pulse"}, env,
                              tmp_path / "display.log")
            src = Source(ros)
            try:
                src.wait_for_subscribers(proc=proc, log=tmp_path / "display.log")
                capture = _capture(display, server, tmp_path / "loop.nut")
                clicks = [k / FPS for k in range(int(seconds * FPS)) if k % FLASH_EVERY == FLASH_EVERY // 2]
                src.stream(seconds, time.time(), click_track(int(seconds * RATE), clicks),
                           frame_fn=_frame, latency_s=0.2)
                time.sleep(0.5)
                capture.send_signal(signal.SIGINT)   # ffmpeg finishes the file on SIGINT
                capture.wait(30)
                assert stop_node(proc, signal.SIGINT) == 0
            finally:
                for p in (proc, capture):
                    if p is not None and p.poll() is None:
                        p.kill()
                src.close()
    finally:
        pulse.terminate()
        pulse.wait(5)
    log = (tmp_path / "display.log").read_text()
    assert "playing speech audio on" in log, log
    flashes, heard = _events(tmp_path / "loop.nut")
    offsets = _pair(flashes, heard)
    print(f"\nA/V offset (ms, + = picture late): n={len(offsets)} median={np.median(offsets):.1f} "
          f"mean={np.mean(offsets):.1f} min={min(offsets):.1f} max={max(offsets):.1f}")
    print(next(line for line in log.splitlines() if "A/V offset p50" in line))
    assert len(offsets) >= 5, (flashes, heard)
    assert abs(np.median(offsets)) < 80

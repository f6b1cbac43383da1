"""face_display as a real subprocess: a fullscreen window on a private Xvfb, and the web page
in headless Chromium. Both screenshots must show the published face, letterboxed."""
import json
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest
from av_fixtures import (RATE, Source, click_track, free_port, grab_screen, ros_setup, start_node, stop_node,
                         synthetic_frame, xvfb)

from avatar.core.window_view import letterbox_rect

pytestmark = pytest.mark.ros
FACE = synthetic_frame(0, 256)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is not installed (apt-get install -y {tool}); the display tests need it"
    return path


class _Streaming:
    """Publishes the face at 25 FPS (and silence) in the background until stopped."""

    def __init__(self, src: Source, seconds: float = 30.0):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=src.stream, daemon=True, kwargs=dict(
            seconds=seconds, t0=time.time(), audio=click_track(int(seconds * RATE), []),
            frame_fn=lambda i: FACE, latency_s=0.08, on_tick=lambda k: self._stop.is_set()))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def _run_display(ros, tmp_path, params, env_extra, check):
    """Start face_display, stream the face, run ``check()`` while it shows; stop with SIGINT."""
    env = dict(ros, **env_extra)
    log = tmp_path / "display.log"
    proc = start_node("face_display", params, env, log)
    src = Source(ros)
    try:
        src.wait_for_subscribers(proc=proc, log=log)
        with _Streaming(src):
            result = check()           # polls: the automatic delay and first frames take a moment
        assert stop_node(proc, signal.SIGINT) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        src.close()
    return result, log.read_text()


def _poll(get, good, timeout_s: float = 20.0, period_s: float = 0.5):
    """get() until good(value) or the timeout; returns the last value (the test asserts on it)."""
    deadline = time.monotonic() + timeout_s
    value = get()
    while not good(value) and time.monotonic() < deadline:
        time.sleep(period_s)
        value = get()
    return value


def test_window_mode_fullscreen_on_xvfb(ros, tmp_path):
    _require("Xvfb")
    _require("ffmpeg")
    w, h = 640, 480
    x, y, rw, rh = letterbox_rect(256, 256, w, h)                  # (80, 0, 480, 480)
    expected = cv2.resize(FACE, (rw, rh), interpolation=cv2.INTER_LINEAR)

    def error(shot):
        return np.abs(shot[y:y + rh, x:x + rw].astype(np.int16) - expected).mean()

    with xvfb(w, h) as display:
        shot, log = _run_display(ros, tmp_path, {"mode": "window"}, {"DISPLAY": display},
                                 lambda: _poll(lambda: grab_screen(display, w, h), lambda s: error(s) < 8))
    cv2.imwrite(str(tmp_path / "window.png"), cv2.cvtColor(shot, cv2.COLOR_RGB2BGR))
    assert error(shot) < 8, "the window does not show the published face"
    assert shot[:, :x].max() < 10 and shot[:, x + rw:].max() < 10  # black letterbox bars
    assert "no audio output" in log                                # one line, then carries on


def _locate(shot: np.ndarray, face: np.ndarray) -> tuple[float, np.ndarray]:
    """Find the face in a screenshot whatever the browser's viewport offset: width from the
    non-black columns, position by template matching. Returns (score, the matched crop)."""
    body = shot[shot.shape[0] // 2:]                                # below the status box
    cols = np.flatnonzero(body.max(axis=(0, 2)) > 40)
    x0, x1 = cols[0], cols[-1] + 1
    scaled = cv2.resize(face, (x1 - x0, x1 - x0), interpolation=cv2.INTER_LINEAR)
    strip = shot[:, x0:x1]
    # A horizontal band from the middle of the screenshot, searched in the scaled face.
    band = strip[shot.shape[0] // 3: shot.shape[0] * 2 // 3]
    res = cv2.matchTemplate(scaled, band, cv2.TM_CCOEFF_NORMED)
    _, score, _, (_, dy) = cv2.minMaxLoc(res)
    return score, np.abs(band.astype(np.int16) - scaled[dy:dy + band.shape[0]]).mean()


def test_web_mode_in_headless_chromium(ros, tmp_path):
    chromium = _require("chromium")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    png = tmp_path / "web.png"

    def check():
        status = _poll(lambda: json.loads(urllib.request.urlopen(url + "status.json", timeout=5).read()),
                       lambda st: st["fps"] > 10)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                            "--window-size=800,600", url], capture_output=True, timeout=90, check=True)
        return status

    status, log = _run_display(ros, tmp_path, {"mode": "web", "port": port}, {}, check)
    assert status["fps"] > 10 and status["latency_ms"] > 0 and status["audio"].startswith("none")
    shot = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    score, mean_error = _locate(shot, FACE)
    assert score > 0.9 and mean_error < 12, f"the page does not show the face ({score=:.2f}, {mean_error=:.1f})"
    assert f"web view on {url}" in log


@pytest.mark.parametrize("params,env_extra,message", [
    ({"mode": "bogus"}, {}, "is not one of"),
    ({"mode": "window"}, {"DISPLAY": ""}, "needs a display"),
    ({"mode": "web", "port": 70000}, {}, "out of range"),
])
def test_bad_configuration_is_one_line_error(ros, tmp_path, params, env_extra, message):
    env = dict(ros, **env_extra)
    proc = start_node("face_display", params, env, tmp_path / "log")
    assert proc.wait(30) == 1
    text = (tmp_path / "log").read_text()
    assert message in text and "Traceback" not in text, text

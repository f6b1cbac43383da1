"""The recorder node as a real subprocess with rclpy: SIGINT/SIGTERM must leave a finished file."""
import signal
import time

import numpy as np
import pytest
from av_fixtures import (FPS, RATE, Source, click_track, decode_index, decode_mp4, onsets_s, ros_setup,
                         start_node, stop_node, synthetic_frame)
from rosbags.highlevel import AnyReader

from avatar.nodes.bag import typestore_with_msgs

pytestmark = pytest.mark.ros
FRAME_S = 1 / FPS


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


def _record(ros, tmp_path, params, seconds, clicks, sig, signal_after_s=None, states=False, audio_rate=RATE):
    """Start the recorder, stream synthetic frames + clicks, signal it. Returns (rc, frames sent, log)."""
    log = tmp_path / "recorder.log"
    proc = start_node("recorder", params, ros, log)
    src = Source(ros, audio_rate=audio_rate)
    try:
        src.wait_for_subscribers(proc=proc, state=states, log=log)
        t0 = time.time()
        sent_at_signal = []

        def tick(k):
            if states and k % 10 == 0:
                src.publish_state(2, t0 + k * 0.02)
            if signal_after_s is not None and k * 0.02 >= signal_after_s:
                sent_at_signal.append(k // 2 + 1)   # frames are published on even ticks
                proc.send_signal(sig)
                return True
            return False

        sent = src.stream(seconds, t0, click_track(int(seconds * RATE), clicks), on_tick=tick)
        if signal_after_s is None:
            # Stop it once everything sent has arrived (an idle recorder still runs).
            mp4 = str(params["path"]).endswith(".mp4")
            chunks = 2 * sent
            src.wait_for_total("recorder", "frames" if mp4 else "messages",
                               sent if mp4 else sent + chunks + (-(-chunks // 10) if states else 0))
            rc = stop_node(proc, sig)
        else:
            sent = sent_at_signal[0]
            rc = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
        src.close()
    return rc, sent, log.read_text()


@pytest.mark.parametrize("sig,audio_rate", [(signal.SIGINT, RATE), (signal.SIGTERM, RATE), (signal.SIGINT, 48000)])
def test_mp4_finished_on_signal(ros, tmp_path, sig, audio_rate):
    """48 kHz speech chunks are resampled to the recording's 16 kHz (clicks stay in place)."""
    out = tmp_path / "rec.mp4"
    rc, sent, log = _record(ros, tmp_path, {"path": out}, 5.0, [1.0, 3.0], sig, audio_rate=audio_rate)
    assert rc == 0, log
    assert sent == 125
    info = decode_mp4(str(out))              # playable: PyAV decodes every frame
    n = len(info["frames"])
    assert abs(n - sent) <= 2, log
    assert info["video_duration"] == pytest.approx(sent * FRAME_S, abs=2 * FRAME_S)
    # The recorder writes fragmented MP4 (crash-safe), whose audio track duration counts the AAC
    # encoder's 1024 priming samples that the edit list skips: compare the audio that plays.
    played_s = len(info["audio"]) / RATE
    assert played_s == pytest.approx(info["video_duration"], abs=FRAME_S + 1024 / RATE)
    # Frames sit at their stamps: slot k shows index first + k (a lost frame repeats its
    # neighbour). Time 0 is the first frame received, normally index 0; on a starved machine
    # DDS discovery can still lose the very first one.
    idx = np.array([decode_index(f) for f in info["frames"]])
    first = int(idx[0])
    assert first <= 2 and np.mean(idx == first + np.arange(n)) > 0.95, (idx, log)
    # And the audio sits at its stamps too: the clicks are where they were published.
    heard = onsets_s(info["audio"])
    assert heard == pytest.approx([1.0 - first * FRAME_S, 3.0 - first * FRAME_S], abs=0.01), (heard, log)


def test_mp4_signal_while_streaming(ros, tmp_path):
    out = tmp_path / "rec.mp4"
    rc, sent, log = _record(ros, tmp_path, {"path": out}, 5.0, [1.0], signal.SIGTERM, signal_after_s=3.0)
    assert rc == 0, log
    info = decode_mp4(str(out))
    # What was in flight at the signal may be lost; the point is a finished, playable file.
    assert sent - 10 <= len(info["frames"]) <= sent + 3, log
    heard = onsets_s(info["audio"])
    assert heard == pytest.approx([1.0], abs=0.01), (heard, log)


def test_mcap_counts(ros, tmp_path):
    out = tmp_path / "bag"
    rc, sent, log = _record(ros, tmp_path, {"path": out}, 3.0, [1.0], signal.SIGINT, states=True)
    assert rc == 0, log
    msg_dir = __import__("pathlib").Path(__file__).resolve().parents[1] / "msg"
    store = typestore_with_msgs([msg_dir])
    with AnyReader([out], default_typestore=store) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        images = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                  if c.topic == "/avatar/image"]
        audio = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                 if c.topic == "/avatar/speech/audio"]
    assert counts == {"/avatar/image": 75, "/avatar/speech/audio": 150, "/avatar/state": 15}, log
    assert [decode_index(np.frombuffer(m.data, np.uint8).reshape(m.height, m.width, 3)) for m in images] \
        == list(range(75))
    assert sum(len(m.samples) for m in audio) == 3 * RATE
    assert np.array_equal(np.frombuffer(images[7].data, np.uint8).reshape(128, 128, 3), synthetic_frame(7))


def test_missing_path_is_one_line_error(ros, tmp_path):
    proc = start_node("recorder", {}, ros, tmp_path / "log")
    assert proc.wait(30) == 1
    text = (tmp_path / "log").read_text()
    assert "set the output" in text and "Traceback" not in text

"""Issue 15, bounded inputs: every audio subscriber refuses an AudioChunk longer than
``max_chunk_s`` (one throttled warning, counted as dropped) and keeps working; vad_state's
clock-offset warning has the right sign. Real node processes, real rclpy and DDS."""
import time

import numpy as np
import pytest
from av_fixtures import RATE, Source, ros_setup, start_node, stop_node
from reliability_helpers import wait_for
from ros_helpers import node_matched

from avatar.core.errors import InputError
from avatar.core.limits import MAX_CHUNK_S, check_chunk_length

pytestmark = pytest.mark.ros
SPEECH = "/avatar/speech/audio"


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


def _audio_source(ros, proc, log) -> Source:
    """A publisher whose speech-audio writer the node has matched (both sides)."""
    src = Source(ros)
    ok = wait_for(lambda: (src.audio_pub.get_subscription_count() > 0 and node_matched(log, [SPEECH]))
               or proc.poll() is not None, 60)
    assert ok and proc.poll() is None, log.read_text()
    return src


def _counter(src: Source, node: str, key: str) -> int:
    return int(src.diagnostics.get(f"avatar: {node}", {}).get(f"{key}_total", 0))


def test_check_chunk_length_bounds():
    assert check_chunk_length(320, 16000, 1, MAX_CHUNK_S) == pytest.approx(0.02)
    assert check_chunk_length(32000, 16000, 2, MAX_CHUNK_S) == pytest.approx(1.0)   # exactly the bound
    with pytest.raises(InputError, match="longer than max_chunk_s=1"):
        check_chunk_length(10_000_000, 16000, 1, MAX_CHUNK_S)
    with pytest.raises(InputError):
        check_chunk_length(320, 0, 1, MAX_CHUNK_S)


@pytest.mark.parametrize("node,params", [
    ("vad_state", {}),
    ("face_display", {"mode": "none", "audio": False}),
    ("recorder", {"path": "REC"}),
])
def test_oversized_chunk_is_refused_with_a_warning(ros, tmp_path, node, params):
    """max_chunk_s:=0.5: a 0.8 s chunk is dropped (warning, dropped_inputs), a 0.3 s one is taken."""
    params = {k: (tmp_path / "rec.mp4" if v == "REC" else v) for k, v in params.items()}
    log = tmp_path / f"{node}.log"
    proc = start_node(node, params | {"max_chunk_s": 0.5}, ros, log)
    src = _audio_source(ros, proc, log)
    try:
        t0 = time.time()
        for _ in range(3):     # three refusals, one warning line (throttled)
            src.publish_audio(np.zeros(int(0.8 * RATE), np.int16), t0)
        assert wait_for(lambda: _counter(src, node, "dropped_inputs") >= 3, 30,
                     lambda: src.executor.spin_once(timeout_sec=0.1)), log.read_text()
        src.publish_audio(np.zeros(int(0.3 * RATE), np.int16), t0 + 1.0)
        src.publish_audio(np.zeros(int(0.3 * RATE), np.int16), t0 + 1.3)
        # The accepted chunks are not counted as dropped; the node is alive and still taking audio.
        taken_key = {"vad_state": "speech_chunks"}.get(node)
        if taken_key:
            assert wait_for(lambda: _counter(src, node, taken_key) >= 2, 30,
                         lambda: src.executor.spin_once(timeout_sec=0.1)), log.read_text()
        wait_for(lambda: False, 1.5, lambda: src.executor.spin_once(timeout_sec=0.1))   # a diagnostics period
        assert _counter(src, node, "dropped_inputs") == 3
        assert proc.poll() is None
    finally:
        src.close()
        stop_node(proc)
    text = log.read_text()
    warnings = [ln for ln in text.splitlines() if "longer than max_chunk_s=0.5" in ln]
    assert len(warnings) == 1, text               # throttled: 3 refusals within a second, one line
    assert "[WARN]" in warnings[0] and "0.80 s" in warnings[0], warnings


def test_vad_state_keeps_its_rate_through_a_huge_chunk(ros, tmp_path):
    """A 625 s chunk (10 M samples) froze vad_state for ~10 s; now it is refused at once and the
    state keeps coming at 5 Hz. Gaps are measured on the node's own publish stamps, and the
    message is built (3 s for 10 M samples) before the clock starts: this process does not spin
    meanwhile, and its depth-10 state queue would lose what the node published."""
    from avatar.msg import AvatarState
    from avatar.nodes.toolkit import QOS
    log = tmp_path / "vad.log"
    proc = start_node("vad_state", {}, ros, log)
    src = _audio_source(ros, proc, log)
    arrivals = []
    src.node.create_subscription(AvatarState, "/avatar/state",
                                 lambda m: arrivals.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9),
                                 QOS.state)
    try:
        spin = lambda: src.executor.spin_once(timeout_sec=0.05)   # noqa: E731
        assert wait_for(lambda: len(arrivals) >= 3, 30, spin), log.read_text()
        huge = src.AudioChunk(sample_rate=RATE, channels=1, samples=np.zeros(10_000_000, np.int16))
        wait_for(lambda: False, 0.5, spin)           # take what queued up while building it
        sent = time.time()
        src._stamp(huge, sent)
        src.audio_pub.publish(huge)
        assert wait_for(lambda: _counter(src, "vad_state", "dropped_inputs") >= 1, 60, spin), log.read_text()
        wait_for(lambda: False, 3.0, spin)
    finally:
        src.close()
        stop_node(proc)
    after = [t for t in arrivals if t >= sent]
    gaps = np.diff([sent] + after)
    assert len(after) >= 10 and gaps.max() < 1.5, (len(after), gaps.max(), log.read_text()[-2000:])
    assert "longer than max_chunk_s=1" in log.read_text()


def test_vad_offset_warning_has_the_right_sign(ros, tmp_path):
    """Chunks stamped 100 s in the past are 100 s *behind* the node's clock: the warning says -100."""
    log = tmp_path / "vad.log"
    proc = start_node("vad_state", {}, ros, log)
    src = _audio_source(ros, proc, log)
    try:
        t0 = time.time() - 100.0
        for k in range(5):
            src.publish_audio(np.zeros(320, np.int16), t0 + k * 0.02)
        assert wait_for(lambda: "off this node's clock" in log.read_text(), 30), log.read_text()
    finally:
        src.close()
        stop_node(proc)
    line = next(ln for ln in log.read_text().splitlines() if "off this node's clock" in ln)
    offset = float(line.split("audio stamps are ", 1)[1].split(" s", 1)[0])
    assert offset == pytest.approx(-100.0, abs=2.0), line

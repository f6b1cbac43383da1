"""audio_capture and speech_source with real rclpy: pacing, stamps, queue, device failures, bad parameters."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter

from avatar.core.audio_io import save_wav
from ros_helpers import make_executor, spin_until

pytestmark = pytest.mark.ros


def _tone(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class _Probe:
    """A node that records every AudioChunk on a topic (with its arrival time) and /diagnostics."""

    def __init__(self, context, topic: str):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray

        from avatar.msg import AudioChunk
        from avatar.nodes.toolkit import QOS
        self.node = rclpy.create_node("probe", context=context)
        self.chunks, self.arrivals, self.diags = [], [], []
        self.node.create_subscription(AudioChunk, topic, self._on_chunk, QOS.audio)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, QOS.diagnostics)

    def _on_chunk(self, msg):
        self.chunks.append(msg)
        self.arrivals.append(time.time())

    def diag_values(self, node_name: str) -> tuple[int, str, dict] | None:
        for arr in reversed(self.diags):
            for s in arr.status:
                if s.name == f"avatar: {node_name}":
                    return s.level[0], s.message, {kv.key: kv.value for kv in s.values}
        return None

    def stamps(self) -> np.ndarray:
        return np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in self.chunks])

    def audio(self) -> np.ndarray:
        return np.concatenate([np.asarray(m.samples, np.int16) for m in self.chunks]).astype(np.float32) / 32768


def _dominant_hz(x: np.ndarray) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(x))) * 16000 / len(x))


def test_file_capture_is_real_time_with_sample_clock_stamps(rclpy_context, tmp_path):
    from avatar.nodes.audio_capture import AudioCapture
    save_wav(tmp_path / "user.wav", _tone(440, 0.6))
    probe = _Probe(rclpy_context, "/avatar/user/audio")
    node = AudioCapture(context=rclpy_context,
                        parameter_overrides=[Parameter("source", value=f"file:{tmp_path / 'user.wav'}")])
    ex = make_executor(rclpy_context, node, probe.node)
    try:
        assert spin_until(ex, lambda: len(probe.chunks) >= 60, 10)
        msgs = probe.chunks[5:60]
        assert all(m.sample_rate == 16000 and m.channels == 1 and len(m.samples) == 320 for m in msgs)
        stamps, arrivals = probe.stamps()[5:60], np.array(probe.arrivals[5:60])
        assert np.allclose(np.diff(stamps), 0.02, atol=1e-6)          # start + sample index / rate
        rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        assert 40 < rate < 60, rate                                   # paced, about 50 chunks/s
        lag = arrivals - (stamps + 0.02)                              # sent once its last sample is due
        assert np.median(lag) < 0.05 and lag.min() > -0.005
        x = probe.audio()
        speech = x[:int(0.6 * 16000) - 400]
        assert abs(_dominant_hz(speech[2000:]) - 440) < 5 and not np.any(x[int(0.6 * 16000) + 320:])
    finally:
        node.close()
        node.destroy_node()
        probe.node.destroy_node()


def test_missing_microphone_logs_once_and_keeps_running(rclpy_context):
    from avatar.nodes.audio_capture import AudioCapture
    probe = _Probe(rclpy_context, "/avatar/user/audio")
    node = AudioCapture(context=rclpy_context, parameter_overrides=[Parameter("source", value="mic:no such mic")])
    ex = make_executor(rclpy_context, node, probe.node)
    try:
        assert spin_until(ex, lambda: probe.diag_values("audio_capture") is not None
                          and probe.diag_values("audio_capture")[0] == 2, 10)
        level, message, _ = probe.diag_values("audio_capture")
        assert "microphone 'no such mic' unavailable" in message
        time.sleep(1.0)
        assert node._pump.failures >= 2 and not probe.chunks     # retried, no crash, nothing fake published
        # Switching the source at run time recovers the node.
        assert node.set_parameters([Parameter("source", value="silence")])[0].successful
        assert spin_until(ex, lambda: len(probe.chunks) >= 5, 5)
    finally:
        node.close()
        node.destroy_node()
        probe.node.destroy_node()


def test_bad_source_parameters_are_rejected_with_reason(rclpy_context, tmp_path):
    from avatar.nodes.audio_capture import AudioCapture
    from avatar.nodes.speech_source import SpeechSource
    cap = AudioCapture(context=rclpy_context)
    speech = SpeechSource(context=rclpy_context)
    try:
        for value, reason in [("speaker", "expected"), ("file:", "needs a path"),
                              (f"file:{tmp_path}/nope.wav", "no such file")]:
            result = cap.set_parameters([Parameter("source", value=value)])[0]
            assert not result.successful and reason in result.reason, (value, result.reason)
        result = speech.set_parameters([Parameter("source", value=str(tmp_path / "nope"))])[0]
        assert not result.successful and "no such file or directory" in result.reason
        assert cap.param("source") == "silence" and speech.param("source") == ""
    finally:
        for n in (cap, speech):
            n.close()
            n.destroy_node()


def test_speech_queue_plays_files_in_order_then_silence(rclpy_context, tmp_path):
    from avatar.nodes.speech_source import SpeechSource
    queue = tmp_path / "queue"
    queue.mkdir()
    probe = _Probe(rclpy_context, "/avatar/speech/audio")
    node = SpeechSource(context=rclpy_context, parameter_overrides=[Parameter("source", value=str(queue))])
    ex = make_executor(rclpy_context, node, probe.node)
    try:
        assert spin_until(ex, lambda: len(probe.chunks) >= 10, 10)    # silence while the queue is empty
        assert not probe.audio().any()
        save_wav(queue / ".b.wav", _tone(600, 0.3))
        save_wav(queue / ".a.wav", _tone(300, 0.3))
        (queue / ".b.wav").rename(queue / "b.wav")                    # writers rename finished files in
        (queue / ".a.wav").rename(queue / "a.wav")
        n0 = len(probe.chunks)
        assert spin_until(ex, lambda: sorted(os.listdir(queue / "done")) == ["a.wav", "b.wav"]
                          if (queue / "done").exists() else False, 10)
        assert spin_until(ex, lambda: len(probe.chunks) >= n0 + 60, 5)
        x = probe.audio()[n0 * 320:]
        loud = np.flatnonzero(np.abs(x) > 0.1)
        first, second = x[loud[0]:loud[0] + 4000], x[loud[-1] - 4000:loud[-1]]
        assert abs(_dominant_hz(first) - 300) < 10 and abs(_dominant_hz(second) - 600) < 10
        assert (loud[-1] - loud[0]) / 16000 == pytest.approx(0.6, abs=0.03)    # back to back
        assert np.allclose(np.diff(probe.stamps()), 0.02, atol=1e-6)           # one continuous stream
    finally:
        node.close()
        node.destroy_node()
        probe.node.destroy_node()


def _node_cmd(module: str, *ros_args: str) -> list[str]:
    return [sys.executable, "-m", f"avatar.nodes.{module}", "--ros-args", *ros_args]


def test_bad_startup_parameter_exits_with_one_line(tmp_path):
    out = subprocess.run(_node_cmd("audio_capture", "-p", "source:=speaker"), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("AudioCapture: error:") and "expected" in last


def test_microphone_node_in_a_subprocess_with_an_alsa_device(rclpy_context, tmp_path):
    """python -m avatar.nodes.audio_capture capturing from a real PortAudio device (ALSA file PCM)."""
    raw = tmp_path / "in.raw"
    t = np.arange(44100 * 20) / 44100       # the ALSA PCM's default rate
    (0.3 * np.sin(2 * np.pi * 500 * t)).astype("<f4").tofile(raw)
    (tmp_path / ".asoundrc").write_text(f'pcm.avatar_test {{\n type file\n slave.pcm "null"\n file "/dev/null"\n'
                                        f' infile "{raw}"\n format "raw"\n}}\n')
    probe = _Probe(rclpy_context, "/avatar/user/audio")
    proc = subprocess.Popen(_node_cmd("audio_capture", "-p", "source:=mic:avatar_test"),
                            env=dict(os.environ, HOME=str(tmp_path)), stderr=subprocess.PIPE, text=True)
    ex = make_executor(rclpy_context, probe.node)
    try:
        assert spin_until(ex, lambda: len(probe.chunks) >= 20, 45), "no chunks from the mic node"
        x = probe.audio()
        assert all(len(m.samples) == 320 for m in probe.chunks)
        assert abs(_dominant_hz(x[-4000:]) - 500) < 8 and abs(np.abs(x).max() - 0.3) < 0.02
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        probe.node.destroy_node()
    assert proc.returncode == 0, err[-2000:]
    assert "capturing from 'avatar_test'" in err

"""Issue 15, content validated at the door: speech_source's ``source`` is probed inside the
set-parameters callback (a non-audio file is rejected with a reason and the old value stays),
every file it plays is logged with its length. Real node processes, real parameter services.
(A missing microphone: `avatar launch --mic` refuses it, test_reliability_launch.py; the node
itself keeps retrying, test_node_audio.py.)"""
import subprocess

import pytest
from av_fixtures import ros_setup, start_node, stop_node
from reliability_helpers import wait_for

from avatar.core.audio_sources import format_length, probe_audio
from avatar.core.errors import InputError

pytestmark = pytest.mark.ros


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


@pytest.fixture
def speech(tmp_path):
    path = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hello there, I am the avatar."], check=True)
    return path


def test_probe_audio(tmp_path, speech):
    assert 1.0 < probe_audio(speech) < 5.0
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "fake.wav").write_bytes(b"RIFF not really a wav file" * 10)
    for bad, reason in (("/etc/passwd", "not a readable audio file"), (tmp_path / "empty.wav", "empty"),
                        (tmp_path / "fake.wav", "not a readable audio file"), (tmp_path, "not a regular file"),
                        (tmp_path / "missing.wav", "no such file")):
        with pytest.raises(InputError, match=reason):
            probe_audio(bad)
    assert format_length(12.34) == "12.3 s" and format_length(7200) == "2:00:00" and format_length(75) == "1:15"


class _Params:
    """get/set parameters of a running node through its services (as `ros2 param` does)."""

    def __init__(self, env: dict, node: str):
        import rclpy
        from rclpy.context import Context
        from rclpy.parameter_client import AsyncParameterClient
        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, domain_id=int(env["ROS_DOMAIN_ID"]))
        self.node = rclpy.create_node("param_probe", context=self.context)
        self.client = AsyncParameterClient(self.node, node)
        from rclpy.executors import SingleThreadedExecutor
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        assert self.client.wait_for_services(timeout_sec=60), f"{node} parameter services not found"

    def _result(self, future):
        self.executor.spin_until_future_complete(future, timeout_sec=60)
        assert future.done()
        return future.result()

    def set(self, name: str, value):
        from rclpy.parameter import Parameter
        return self._result(self.client.set_parameters([Parameter(name, value=value)])).results[0]

    def get(self, name: str):
        return self._result(self.client.get_parameters([name])).values[0].string_value

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)


def test_speech_source_rejects_non_audio_and_logs_lengths(ros, tmp_path, speech):
    log = tmp_path / "speech.log"
    proc = start_node("speech_source", {"source": speech}, ros, log)
    params = None
    try:
        params = _Params(ros, "/speech_source")
        assert wait_for(lambda: "playing hello.wav (" in log.read_text(), 30), log.read_text()
        line = next(ln for ln in log.read_text().splitlines() if "playing hello.wav (" in ln)
        assert f"({format_length(probe_audio(speech))})" in line
        fake = tmp_path / "fake.wav"
        fake.write_bytes(b"\x00garbage" * 100)
        for bad, why in (("/etc/passwd", "not a readable audio file"), (str(fake), "not a readable audio file"),
                         (str(tmp_path / "nope.wav"), "no such file")):
            result = params.set("source", bad)
            assert not result.successful and why in result.reason, result.reason
            assert params.get("source") == str(speech)          # the old value stays
        # A directory queue is accepted; each file it plays is logged with its length.
        queue = tmp_path / "queue"
        queue.mkdir()
        assert params.set("source", str(queue)).successful
        (queue / "q1.wav").write_bytes(speech.read_bytes())
        assert wait_for(lambda: "playing q1.wav (" in log.read_text(), 30), log.read_text()
        assert proc.poll() is None
    finally:
        if params is not None:
            params.close()
        stop_node(proc)


def test_speech_source_refuses_a_bad_file_at_start(ros, tmp_path):
    log = tmp_path / "speech.log"
    proc = start_node("speech_source", {"source": "/etc/passwd"}, ros, log)
    assert proc.wait(60) == 1
    assert "not a readable audio file" in log.read_text()


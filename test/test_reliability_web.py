"""Issue 15, the web view: never open to the network unannounced, no DNS rebinding, and a status
box that shows when the frames stopped. face_display as a real process, real HTTP, real rclpy."""
import json
import time
import urllib.error
import urllib.request

import pytest
from av_fixtures import Source, free_port, ros_setup, start_node, stop_node, synthetic_frame

from avatar.core.errors import AvatarError
from avatar.core.web_view import check_exposure, host_allowed

pytestmark = pytest.mark.ros


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


def test_host_header_rules():
    assert host_allowed("127.0.0.1:8080", "127.0.0.1")
    assert host_allowed("localhost:9", "127.0.0.1") and host_allowed("LOCALHOST", "127.0.0.1")
    assert host_allowed("[::1]:8080", "127.0.0.1")
    assert host_allowed("192.168.1.5:8080", "192.168.1.5")
    assert host_allowed("10.0.0.7:8080", "0.0.0.0")           # an IP literal cannot be rebound
    assert not host_allowed("10.0.0.7:8080", "127.0.0.1")
    assert not host_allowed("evil.example:8080", "0.0.0.0")   # a name can: refused
    assert not host_allowed("evil.example", "127.0.0.1")
    assert not host_allowed(None, "127.0.0.1") and not host_allowed("", "127.0.0.1")


def test_exposure_needs_allow_remote():
    assert check_exposure("127.0.0.1", False) is False and check_exposure("localhost", False) is False
    with pytest.raises(AvatarError, match="allow_remote"):
        check_exposure("0.0.0.0", False)
    with pytest.raises(AvatarError, match="allow_remote"):
        check_exposure("kiosk.lan", False)
    assert check_exposure("0.0.0.0", True) is True


def test_remote_host_without_allow_remote_refuses_to_start(ros, tmp_path):
    log = tmp_path / "display.log"
    proc = start_node("face_display", {"mode": "web", "host": "0.0.0.0", "port": free_port(), "audio": False},
                      ros, log)
    assert proc.wait(60) == 1, log.read_text()
    errors = [ln for ln in log.read_text().splitlines() if "error" in ln.lower()]
    assert any("reachable from the network" in ln and "allow_remote:=true" in ln for ln in errors), log.read_text()


def _get(port: int, path: str, host: str) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _wait_status(port: int, level: str, src: Source, timeout_s: float = 30.0, publish=None, says: str = "") -> dict:
    deadline = time.monotonic() + timeout_s
    status = {}
    while time.monotonic() < deadline:
        if publish is not None:
            publish()
        src.executor.spin_once(timeout_sec=0.04)
        try:
            status = json.loads(_get(port, "/status.json", f"localhost:{port}")[1])
        except (OSError, ValueError):
            continue
        if status.get("level") == level and says in status.get("message", ""):
            return status
    raise AssertionError(f"status never reached {level}: {status}")


def test_remote_view_warns_checks_host_and_shows_stopped_frames(ros, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray

    from avatar.nodes.toolkit import QOS
    port = free_port()
    log = tmp_path / "display.log"
    proc = start_node("face_display", {"mode": "web", "host": "0.0.0.0", "port": port, "allow_remote": True,
                                       "audio": False, "stale_frames_s": 1.0, "stale_state_s": 1.0}, ros, log)
    src = Source(ros)
    levels = []
    src.node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: levels.extend(s.level[0] for s in m.status if "face_display" in s.name),
                                 QOS.diagnostics)
    try:
        src.wait_for_subscribers(proc=proc, log=log, state=True)
        warning = [ln for ln in log.read_text().splitlines() if "[WARN]" in ln and "open to anyone" in ln]
        assert warning and f"0.0.0.0 port {port}" in warning[0] and "no authentication" in warning[0], log.read_text()
        # DNS rebinding: a page on evil.example that resolves to us sends Host: evil.example.
        assert _get(port, "/", f"evil.example:{port}")[0] == 403
        assert _get(port, "/status.json", "evil.example")[0] == 403
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.1", f"10.0.0.7:{port}"):
            assert _get(port, "/", host)[0] == 200, host
        assert _wait_status(port, "WARN", src)["message"] == "no frames yet"
        k = [0]

        def publish():
            src.publish_frame(synthetic_frame(k[0]), time.time())
            src.publish_state(2, time.time())
            k[0] += 1
        _wait_status(port, "OK", src, publish=publish)
        stopped = _wait_status(port, "ERROR", src)     # the frames (and the state) stopped
        assert stopped["message"].startswith("no frames for"), stopped
        _wait_status(port, "ERROR", src, says="no state for")   # vad_state gone: also an ERROR
        deadline = time.monotonic() + 10
        while 2 not in levels and time.monotonic() < deadline:
            src.executor.spin_once(timeout_sec=0.1)
        assert 2 in levels, levels                      # /diagnostics carries ERROR too
    finally:
        src.close()
        stop_node(proc)
    errors = [ln for ln in log.read_text().splitlines() if "[ERROR]" in ln and "no frames for" in ln]
    assert len(errors) == 1, log.read_text()                # once per outage, not every second

"""face_display as a managed node, driven from outside with plain rclpy through the
lifecycle_msgs services; with image_transport:=compressed its web view serves the very JPEG
bytes that were published (no second encode), and stops and resumes with the transitions."""
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from av_fixtures import free_port
from ros_helpers import LifecycleClient, make_executor, spin_until

pytestmark = pytest.mark.ros


class MjpegReader(threading.Thread):
    """Collects the JPEG parts of an MJPEG stream until the server closes it."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.parts = url, []

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=30) as stream:
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    if line.lower().startswith(b"content-length:"):
                        stream.readline()                           # the blank line
                        self.parts.append(stream.read(int(line.split(b":")[1])))
        except (OSError, ValueError):
            return          # the server went away (cleanup)


def _jpegs(n: int) -> list[bytes]:
    """n distinct JPEGs: a gradient with the frame number written on it."""
    out = []
    for i in range(n):
        bgr = np.zeros((96, 96, 3), np.uint8)
        bgr[..., 2] = np.linspace(0, 255, 96, dtype=np.uint8)[None, :]
        cv2.putText(bgr, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        out.append(cv2.imencode(".jpg", bgr)[1].tobytes())
    return out


def _refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return False
    except urllib.error.URLError:
        return True


def test_face_display_transitions_from_outside(tmp_path, rclpy_context):
    import rclpy
    from lifecycle_msgs.msg import Transition
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "face_display.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "avatar.nodes.face_display", "--ros-args",
                                 "-p", "mode:=web", "-p", f"port:={port}", "-p", "audio:=false",
                                 "-p", "autostart:=false", "-p", "image_transport:=compressed"],
                                stdout=out, stderr=subprocess.STDOUT)
    client = rclpy.create_node("lifecycle_client", context=rclpy_context)
    pub = client.create_publisher(CompressedImage, "/avatar/image/compressed",
                                  QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    jpegs = _jpegs(50)
    sent = []

    def publish() -> None:
        msg = CompressedImage(format="rgb8; jpeg compressed bgr8", data=jpegs[len(sent) % len(jpegs)])
        msg.header.stamp = client.get_clock().now().to_msg()
        pub.publish(msg)
        sent.append(msg.header.stamp)

    client.create_timer(0.04, publish)
    executor = make_executor(rclpy_context, client)
    try:
        display = LifecycleClient(client, executor, "face_display")
        assert display.state() == "unconfigured"
        assert _refused(url), "nothing is served before configure"
        assert display.change(Transition.TRANSITION_CONFIGURE) and display.state() == "inactive"
        assert display.change(Transition.TRANSITION_ACTIVATE) and display.state() == "active"
        reader = MjpegReader(url + "stream.mjpg")
        reader.start()
        assert spin_until(executor, lambda: len(reader.parts) >= 25, 30), log.read_text()
        assert set(reader.parts) <= set(jpegs), "the web view re-encoded the published JPEG"

        assert display.change(Transition.TRANSITION_DEACTIVATE) and display.state() == "inactive"
        spin_until(executor, lambda: False, 1.0)          # frames already due may still go out
        paused = len(reader.parts)
        spin_until(executor, lambda: False, 1.5)
        assert len(reader.parts) == paused, "frames were shown while inactive"

        assert display.change(Transition.TRANSITION_ACTIVATE)
        assert spin_until(executor, lambda: len(reader.parts) >= paused + 10, 20), "no frames after activate"

        assert display.change(Transition.TRANSITION_DEACTIVATE)
        assert display.change(Transition.TRANSITION_CLEANUP) and display.state() == "unconfigured"
        assert _refused(url), "the web server still runs after cleanup"
        reader.join(10)
        assert display.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN) and display.state() == "finalized"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
        client.destroy_node()
    assert code == 0, log.read_text()
    text = log.read_text()
    for label in ("lifecycle: inactive", "lifecycle: active", "lifecycle: unconfigured", "lifecycle: finalized"):
        assert label in text, text
    print(f"\n[lifecycle] face_display served {len(reader.parts)} published JPEGs unchanged; {len(sent)} sent")


def test_autostart_failure_exits_with_the_reason(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = subprocess.run([sys.executable, "-m", "avatar.nodes.face_display", "--ros-args", "-p", "mode:=web",
                               "-p", f"port:={busy.getsockname()[1]}", "-p", "audio:=false"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    final = [ln for ln in done.stderr.splitlines() if ln.startswith("FaceDisplay: error:")]
    assert len(final) == 1 and "configure failed: cannot serve on" in final[0], done.stderr

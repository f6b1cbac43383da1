"""`avatar launch`'s lifecycle bring-up (nodes/launching.py + nodes/lifecycle_manager.py) on a real
managed node: face_display is driven to active through its lifecycle_msgs services, and a
configure that fails (its port is taken) stops the start-up with the node's own reason."""
import socket
from pathlib import Path

import pytest
from av_fixtures import free_port
from ros_helpers import LifecycleClient, make_executor

from avatar.core.graph import NodeSpec
from avatar.nodes.launching import GraphRunner, StartupError

pytestmark = pytest.mark.ros
CONFIG = Path(__file__).resolve().parents[1] / "config" / "avatar.yaml"


def _display(port: int) -> list[NodeSpec]:
    return [NodeSpec("face_display", "face_display", {"mode": "web", "port": port, "audio": False,
                                                      "autostart": False}, lifecycle=True)]


@pytest.fixture
def manager():
    from avatar.nodes.lifecycle_manager import LifecycleManager
    m = LifecycleManager()
    yield m
    m.close()


def test_managed_node_is_brought_to_active(manager, rclpy_context):
    import rclpy
    lines = []
    runner = GraphRunner(_display(free_port()), CONFIG, log=lines.append, bring_up=manager.bring_up)
    try:
        runner.start()
        client = rclpy.create_node("outside", context=rclpy_context)
        assert LifecycleClient(client, make_executor(rclpy_context, client), "face_display").state() == "active"
        client.destroy_node()
    finally:
        codes = runner.stop()
    assert "[launch] face_display is active (lifecycle)" in lines
    assert codes == {"face_display": 0}


def test_failed_configure_stops_the_start_with_the_reason(manager):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        lines = []
        runner = GraphRunner(_display(busy.getsockname()[1]), CONFIG, log=lines.append, bring_up=manager.bring_up)
        with pytest.raises(StartupError, match=r"face_display could not start \(not brought to active: "
                                               r".*configure failed.*cannot serve"):
            runner.start()
    assert not any("graph up" in ln for ln in lines)

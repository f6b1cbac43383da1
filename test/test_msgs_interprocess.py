"""Each custom message crosses a process boundary over real Fast DDS, field by field."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ros_helpers import make_executor, spin_until

pytestmark = pytest.mark.ros

PUBLISHER = textwrap.dedent("""
    import sys, time
    import rclpy
    from avatar.msg import AudioChunk, AvatarState, ExpressionControl, Expression
    from avatar.nodes.toolkit import QOS
    rclpy.init()
    node = rclpy.create_node("msg_publisher")
    pubs = {t.__name__: node.create_publisher(t, "/test/" + t.__name__, QOS.state)
            for t in (AudioChunk, AvatarState, ExpressionControl, Expression)}
    a = AudioChunk(sample_rate=16000, channels=1, samples=list(range(-160, 160)))
    a.header.frame_id = "mic"
    s = AvatarState(state=AvatarState.SPEAKING, confidence=0.75, speech_prob=0.9, user_prob=0.125)
    e = ExpressionControl(names=["smile", "gaze_x"], values=[0.5, -0.25])
    x = Expression(expression=Expression.HAPPY, valence=0.5, arousal=-0.5, confidence=1.0)
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        for m, name in ((a, "AudioChunk"), (s, "AvatarState"), (e, "ExpressionControl"), (x, "Expression")):
            m.header.stamp = node.get_clock().now().to_msg()
            pubs[name].publish(m)
        time.sleep(0.05)
    node.destroy_node()
    rclpy.shutdown()
""")


def test_every_custom_message_crosses_processes(rclpy_context):
    import rclpy
    from avatar.msg import AudioChunk, AvatarState, Expression, ExpressionControl
    from avatar.nodes.toolkit import QOS

    node = rclpy.create_node("msg_subscriber", context=rclpy_context)
    got = {}
    for t in (AudioChunk, AvatarState, ExpressionControl, Expression):
        node.create_subscription(t, "/test/" + t.__name__, lambda m, n=t.__name__: got.setdefault(n, m), QOS.state)
    child = subprocess.Popen([sys.executable, "-c", PUBLISHER, "20"])
    try:
        ok = spin_until(make_executor(rclpy_context, node), lambda: len(got) == 4, timeout_s=20)
    finally:
        child.terminate()
        child.wait(timeout=10)
        node.destroy_node()
    assert ok, f"received only {sorted(got)}"
    a = got["AudioChunk"]
    assert (a.sample_rate, a.channels, a.header.frame_id) == (16000, 1, "mic")
    np.testing.assert_array_equal(np.asarray(a.samples), np.arange(-160, 160))
    s = got["AvatarState"]
    assert s.state == AvatarState.SPEAKING == 2
    assert (s.confidence, s.user_prob) == (0.75, 0.125)
    e = got["ExpressionControl"]
    assert list(e.names) == ["smile", "gaze_x"] and list(e.values) == [0.5, -0.25]
    x = got["Expression"]
    assert x.expression == "happy" and (x.valence, x.arousal) == (0.5, -0.5)
    assert s.header.stamp.sec > 0

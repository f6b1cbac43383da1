"""expression_control with real rclpy: rate, smooth transitions, named and valence/arousal input, overrides, state."""
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter

from ros_helpers import make_executor, spin_until

pytestmark = pytest.mark.ros


@pytest.fixture
def rig(rclpy_context):
    import rclpy

    from avatar.msg import AvatarState, Expression, ExpressionControl
    from avatar.nodes.expression_control import ExpressionControlNode
    from avatar.nodes.toolkit import QOS
    node = ExpressionControlNode(context=rclpy_context)
    probe = rclpy.create_node("probe", context=rclpy_context)
    got = []
    probe.create_subscription(ExpressionControl, "/avatar/expression", lambda m: got.append((time.time(), m)),
                              QOS.expression)
    pubs = {"expr": probe.create_publisher(Expression, "/robot_face/expression", QOS.expression),
            "set": probe.create_publisher(ExpressionControl, "/avatar/expression/set", QOS.expression),
            "state": probe.create_publisher(AvatarState, "/avatar/state", QOS.state)}
    ex = make_executor(rclpy_context, node, probe)
    assert spin_until(ex, lambda: len(got) > 3 and all(p.get_subscription_count() for p in pubs.values()), 10)
    yield node, pubs, got, ex
    node.destroy_node()
    probe.destroy_node()


def _value(got, name):
    from avatar.core.expression import INDEX
    return got[-1][1].values[INDEX[name]]


def _wait(ex, seconds):
    end = time.time() + seconds
    spin_until(ex, lambda: time.time() > end, seconds + 1)


def test_publishes_all_controls_at_25hz(rig):
    from avatar.core.expression import NAMES
    node, pubs, got, ex = rig
    _wait(ex, 2.0)
    assert all(tuple(m.names) == NAMES and len(m.values) == len(NAMES) for _, m in got)
    arrivals = np.array([t for t, _ in got[-40:]])
    rate = 1.0 / np.median(np.diff(arrivals))     # a timer skips what a stall costs: not the mean
    assert 20 < rate < 30, rate


def test_named_expression_ramps_smoothly_under_the_rate_limits(rig):
    from avatar.core.expression_smoothing import parse_rates
    from avatar.msg import Expression
    node, pubs, got, ex = rig
    n0 = len(got)
    pubs["expr"].publish(Expression(expression="surprised", confidence=1.0))
    _wait(ex, 2.0)
    pubs["expr"].publish(Expression(expression="", valence=-1.0, arousal=1.0, confidence=0.5))
    _wait(ex, 2.0)
    msgs = [m for _, m in got[n0 - 1:]]
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in msgs])
    values = np.array([m.values for m in msgs])
    steps = np.abs(np.diff(values, axis=0))
    assert np.all(steps <= parse_rates([])[None, :] * np.diff(stamps)[:, None] + 1e-5)   # never a jump
    assert _value(got, "brow_furrow") == pytest.approx(0.4, abs=0.01)        # anger at half confidence
    surprised = values[np.argmin(np.abs(stamps - (stamps[0] + 1.9)))]
    from avatar.core.expression import INDEX
    assert surprised[INDEX["brow_raise"]] == pytest.approx(0.9, abs=0.02)


def test_overrides_clamped_and_messages_with_unknown_names_dropped(rig, capfd):
    from avatar.msg import Expression, ExpressionControl
    node, pubs, got, ex = rig
    pubs["set"].publish(ExpressionControl(names=["gaze_x", "gaze_y"], values=[0.5, -7.0]))
    pubs["set"].publish(ExpressionControl(names=["gaze_x", "nose_wiggle"], values=[-0.5, 1.0]))
    _wait(ex, 1.5)
    assert _value(got, "gaze_x") == pytest.approx(0.5, abs=1e-3)          # the message with nose_wiggle dropped
    assert _value(got, "gaze_y") == pytest.approx(-1.0, abs=1e-3)         # -7.0 clamped to the range
    err = capfd.readouterr().err
    assert "unknown controls ['nose_wiggle']" in err
    assert "gaze_y=-7.0 is outside [-1, 1]: clamped to -1" in err
    pubs["expr"].publish(Expression(expression="grumpy", confidence=1.0))
    pubs["set"].publish(ExpressionControl(names=["smile", "frown"], values=[0.3]))
    _wait(ex, 1.5)
    err = capfd.readouterr().err
    assert "unknown expression 'grumpy'" in err or "2 names but 1 values" in err    # warnings are throttled
    pubs["set"].publish(ExpressionControl(names=["gaze_x"], values=[float("nan")]))
    _wait(ex, 1.5)
    assert abs(_value(got, "gaze_x")) < 0.2                                   # released to the idle wander


def test_listening_state_brings_nods(rig):
    from avatar.msg import AvatarState
    node, pubs, got, ex = rig
    n0 = len(got)
    pubs["state"].publish(AvatarState(state=AvatarState.LISTENING, confidence=1.0))
    _wait(ex, 3.5)
    from avatar.core.expression import INDEX
    nod = [m.values[INDEX["head_nod"]] for _, m in got[n0:]]
    assert max(nod) > 0.1 and _value(got, "eye_open") > 0.1


def test_bad_parameters_are_rejected_with_reason(rig):
    node, pubs, got, ex = rig
    for name, value, reason in [("rate_overrides", "nose=1", "control"), ("rate_overrides", "smile=-2", "positive"),
                                ("rate_hz", 0.0, "range"), ("nod_amplitude", 3.0, "range")]:
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and reason in result.reason, (name, result.reason)
    assert node.set_parameters([Parameter("rate_overrides", value="head_nod=0.5")])[0].successful
    assert node.set_parameters([Parameter("rate_hz", value=50.0)])[0].successful
    n0 = len(got)
    _wait(ex, 1.0)
    assert len(got) - n0 > 35

"""The node toolkit with real rclpy: parameter validation, guarded callbacks, diagnostics."""
import pytest
from rclpy.parameter import Parameter

from ros_helpers import make_executor, spin_until

pytestmark = pytest.mark.ros


def _make_node_class():
    from std_msgs.msg import String

    from avatar.core.errors import InputError
    from avatar.nodes.toolkit import QOS, AvatarNode, Param

    class Echo(AvatarNode):
        PARAMS = (
            Param("mode", "upper", "how to transform", choices=("upper", "lower")),
            Param("rate_hz", 5.0, "output rate", range=(0.5, 50.0)),
            Param("prefix", "", "text prefix", check=lambda v: "must not contain '/'" if "/" in v else None),
        )

        def __init__(self, context):
            super().__init__("echo", context=context)
            self.out = self.create_publisher(String, "/test/echo_out", QOS.state)
            self.subscribe(String, "/test/echo_in", self.on_text, QOS.state)
            self.changes = []

        def on_text(self, msg):
            if msg.data == "crash":
                raise RuntimeError("core exploded")
            if msg.data == "bad":
                raise InputError("bad input")
            self.out.publish(String(data=self.param("prefix") + msg.data.upper()))

        def on_parameters_changed(self, changed):
            self.changes.append(changed)

    return Echo


def test_bad_parameter_values_are_rejected_with_reason(rclpy_context):
    node = _make_node_class()(rclpy_context)
    try:
        results = node.set_parameters([Parameter("mode", value="sideways")])
        assert not results[0].successful and "not one of" in results[0].reason
        results = node.set_parameters([Parameter("rate_hz", value=500.0)])
        assert not results[0].successful and "range" in results[0].reason
        results = node.set_parameters([Parameter("prefix", value="a/b")])
        assert not results[0].successful and "must not contain" in results[0].reason
        assert node.param("mode") == "upper" and node.param("rate_hz") == 5.0
        results = node.set_parameters([Parameter("mode", value="lower")])
        assert results[0].successful
        assert node.param("mode") == "lower" and node.changes == [{"mode": "lower"}]
        desc = node.describe_parameter("rate_hz")
        assert desc.floating_point_range[0].to_value == 50.0 and desc.description == "output rate"
    finally:
        node.destroy_node()


def test_invalid_initial_override_fails_node_creation(rclpy_context):
    import rclpy
    from rclpy.context import Context

    cls = _make_node_class()
    ctx = Context()
    rclpy.init(context=ctx, args=["--ros-args", "-p", "mode:=sideways"])
    try:
        with pytest.raises(rclpy.exceptions.InvalidParameterValueException):
            cls(ctx)
    finally:
        rclpy.try_shutdown(context=ctx)


def test_a_raising_core_is_logged_and_the_node_keeps_running(rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String

    from avatar.nodes.toolkit import QOS

    node = _make_node_class()(rclpy_context)
    probe = rclpy.create_node("probe", context=rclpy_context)
    outputs, diags = [], []
    probe.create_subscription(String, "/test/echo_out", lambda m: outputs.append(m.data), QOS.state)
    probe.create_subscription(DiagnosticArray, "/diagnostics", diags.append, QOS.diagnostics)
    pub = probe.create_publisher(String, "/test/echo_in", QOS.state)
    executor = make_executor(rclpy_context, node, probe)
    try:
        assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 10)
        for text in ("crash", "bad", "hello"):
            pub.publish(String(data=text))
        assert spin_until(executor, lambda: outputs == ["HELLO"], 10), outputs

        def counted():
            for arr in diags:
                values = {kv.key: kv.value for s in arr.status for kv in s.values}
                if values.get("callback_errors_total") == "1" and values.get("dropped_inputs_total") == "1":
                    return True
            return False
        assert spin_until(executor, counted, 5), "errors not reported on /diagnostics"
    finally:
        node.destroy_node()
        probe.destroy_node()

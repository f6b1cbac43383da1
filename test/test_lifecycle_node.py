"""AvatarLifecycleNode in-process with real rclpy: hooks run in the standard transitions, failures
keep or reset the state as the lifecycle design says, and shutdown/exit tear down what is up."""
import pytest

pytestmark = pytest.mark.ros


def _node_class():
    from avatar.core.errors import InputError
    from avatar.nodes.lifecycle import AUTOSTART, AvatarLifecycleNode
    from avatar.nodes.toolkit import Param

    class Managed(AvatarLifecycleNode):
        PARAMS = (AUTOSTART, Param("fail", "", "which hook fails: configure_input, configure_bug, activate"))

        def __init__(self, context, **params):
            from rclpy.parameter import Parameter
            overrides = [Parameter(k, value=v) for k, v in params.items()]
            super().__init__("managed", context=context, parameter_overrides=overrides)
            self.calls = []

        def configure(self):
            self.calls.append("configure")
            if self.param("fail") == "configure_input":
                raise InputError("no such portrait")
            if self.param("fail") == "configure_bug":
                raise KeyError("oops")

        def activate(self):
            self.calls.append("activate")
            if self.param("fail") == "activate":
                raise RuntimeError("device gone")

        def deactivate(self):
            self.calls.append("deactivate")

        def cleanup(self):
            self.calls.append("cleanup")

    return Managed


def _state(node) -> str:
    return node._state_machine.current_state[1]


def test_transitions_call_the_hooks_and_shutdown_tears_down(rclpy_context):
    from rclpy.lifecycle import TransitionCallbackReturn as R
    node = _node_class()(rclpy_context, autostart=False)
    try:
        node.start_up()                                    # autostart false: stays unconfigured
        assert _state(node) == "unconfigured" and node.calls == []
        assert node.trigger_configure() == R.SUCCESS and _state(node) == "inactive"
        assert node.trigger_activate() == R.SUCCESS and _state(node) == "active" and node.active
        assert node.trigger_deactivate() == R.SUCCESS and not node.active
        assert node.trigger_activate() == R.SUCCESS
        assert node.trigger_shutdown() == R.SUCCESS and _state(node) == "finalized"
        assert node.calls == ["configure", "activate", "deactivate", "activate", "deactivate", "cleanup"]
        node.close()                                       # nothing left to tear down
        assert node.calls[-1] == "cleanup" and len(node.calls) == 6
    finally:
        node.destroy_node()


@pytest.mark.parametrize("fail, result, state, calls", [
    ("configure_input", "FAILURE", "unconfigured", ["configure", "cleanup"]),
    ("configure_bug", "ERROR", "unconfigured", ["configure", "cleanup"]),
    ("activate", "ERROR", "unconfigured", ["configure", "activate", "deactivate", "cleanup"]),
])
def test_failures_undo_what_was_started(rclpy_context, fail, result, state, calls):
    from rclpy.lifecycle import TransitionCallbackReturn as R
    node = _node_class()(rclpy_context, autostart=False, fail=fail)
    try:
        got = node.trigger_configure()
        if got == R.SUCCESS:
            got = node.trigger_activate()
        assert got == getattr(R, result) and _state(node) == state and node.calls == calls
        assert not node.active and not node.configured and "failed" in node.failure
    finally:
        node.destroy_node()


def test_autostart_reaches_active_or_raises_the_reason(rclpy_context):
    from avatar.core.errors import AvatarError
    cls = _node_class()
    node = cls(rclpy_context)
    try:
        node.start_up()
        assert _state(node) == "active"
    finally:
        node.close()
        node.destroy_node()
    assert node.calls == ["configure", "activate", "deactivate", "cleanup"]
    broken = cls(rclpy_context, fail="configure_input")
    try:
        with pytest.raises(AvatarError, match="configure failed: no such portrait"):
            broken.start_up()
    finally:
        broken.destroy_node()

"""Managed (lifecycle) avatar nodes: :class:`AvatarLifecycleNode` is an ``AvatarNode`` (declared
and validated parameters, diagnostics, guarded callbacks) that is also an
``rclpy.lifecycle.LifecycleNode`` with the standard ``lifecycle_msgs`` services
(``/<node>/change_state``, ``/<node>/get_state``, ...) and ``/<node>/transition_event``.

A subclass implements four plain hooks and never deals with return codes:

* ``configure()``: load what is heavy (a model, a window, a server) and create subscriptions;
* ``activate()`` / ``deactivate()``: start / pause output, keeping what ``configure`` loaded;
* ``cleanup()``: free what ``configure`` made (also called after a failed configure).

A hook that raises fails its transition: AvatarError (bad input or environment) logs one
line and returns FAILURE (the node stays where it was); anything else logs its type and
returns ERROR (rclpy then calls ``on_error``, which tears down to unconfigured). ``shutdown``
from any state, and process exit, deactivate and clean up whatever is up.

With ``autostart`` true (the default, so that ``ros2 run`` and plain tests keep working) the
node configures and activates itself before spinning; ``avatar launch`` and
``launch/avatar.launch.py`` set it false and drive the transitions as a lifecycle manager would.
"""
from collections.abc import Callable

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from avatar.core.errors import AvatarError
from avatar.nodes.toolkit import AvatarNode, Param

AUTOSTART = Param("autostart", True, "configure and activate at start-up; false: wait for a lifecycle manager "
                  "(/<node>/change_state), as avatar launch and avatar.launch.py do", read_only=True)


class AvatarLifecycleNode(AvatarNode, LifecycleNode):
    """Base class of the managed avatar nodes; ``PARAMS`` must include ``AUTOSTART``."""

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        if "autostart" not in self._specs:
            raise TypeError(f"{type(self).__name__}.PARAMS must include lifecycle.AUTOSTART")
        self.configured = False
        self.active = False
        self.failure: str | None = None     # why the last transition failed, for start_up's error
        self.diag.set("lifecycle", "unconfigured")

    # -- hooks for subclasses ------------------------------------------------
    def configure(self) -> None:
        """Load and create what the node needs (called in the configuring transition)."""

    def activate(self) -> None:
        """Start output (``self.active`` is already True while this runs)."""

    def deactivate(self) -> None:
        """Pause output (``self.active`` is already False while this runs)."""

    def cleanup(self) -> None:
        """Free what ``configure`` made; must cope with a half-finished configure."""

    # -- rclpy transition callbacks --------------------------------------------
    def _run_hook(self, what: str, hook: Callable[[], None]) -> TransitionCallbackReturn:
        try:
            hook()
        except AvatarError as err:
            self.failure = f"{what} failed: {err}"
            self.get_logger().error(self.failure)
            return TransitionCallbackReturn.FAILURE
        except Exception as err:  # noqa: BLE001 - rclpy would swallow it silently; log it, then ERROR
            self.failure = f"{what} failed: {type(err).__name__}: {err}"
            self.get_logger().error(self.failure)
            return TransitionCallbackReturn.ERROR
        return TransitionCallbackReturn.SUCCESS

    def _entered(self, label: str) -> None:
        self.diag.set("lifecycle", label)
        self.get_logger().info(f"lifecycle: {label}")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self._run_hook("configure", self.configure)
        if result == TransitionCallbackReturn.SUCCESS:
            self.configured = True
            self._entered("inactive")
        else:
            self._run_hook("cleanup after a failed configure", self.cleanup)
        return result

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        result = self._run_hook("activate", self.activate)
        if result == TransitionCallbackReturn.SUCCESS:
            result = super().on_activate(state)          # lifecycle publishers, if any
        if result == TransitionCallbackReturn.SUCCESS:
            self._entered("active")
        else:
            self.active = False
            self._run_hook("deactivate after a failed activate", self.deactivate)
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        result = self._run_hook("deactivate", self.deactivate)
        if result == TransitionCallbackReturn.SUCCESS:
            result = super().on_deactivate(state)
            self._entered("inactive")
        return result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self._run_hook("cleanup", self.cleanup)
        self.configured = False
        self._entered("unconfigured")
        return result

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._tear_down()
        self._entered("finalized")
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._tear_down()
        self._entered("unconfigured (after an error)")
        return TransitionCallbackReturn.SUCCESS

    def _tear_down(self) -> None:
        if self.active:
            self.active = False
            self._run_hook("deactivate", self.deactivate)
        if self.configured:
            self.configured = False
            self._run_hook("cleanup", self.cleanup)

    # -- process life ------------------------------------------------------------
    def start_up(self) -> None:
        """run_node calls this before spinning: with ``autostart``, configure and activate."""
        if not self.param("autostart"):
            self.get_logger().info("unconfigured; waiting for change_state (autostart is false)")
            return
        for trigger, what in ((self.trigger_configure, "configure"), (self.trigger_activate, "activate")):
            if trigger() != TransitionCallbackReturn.SUCCESS:
                raise AvatarError(self.failure or f"{what} failed")

    def close(self) -> None:
        self._tear_down()

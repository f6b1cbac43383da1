"""What every avatar node shares: declared-and-validated parameters, QoS
profiles, /diagnostics, guarded callbacks and a clean main().

A node subclasses :class:`AvatarNode`, lists its parameters in ``PARAMS`` and
keeps its logic in a ROS-free core from ``avatar.core`` or
``avatar.model_runtime``. ``main()`` is one line: ``return run_node(MyNode, args)``.
"""
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from avatar.core.diagnostics import DiagnosticsWindow
from avatar.core.errors import AvatarError
from avatar.core.limits import MAX_CHUNK_RANGE_S, MAX_CHUNK_S, check_chunk_length


def _qos(depth: int, reliable: bool = True) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


class QOS:
    """Standard profiles. Reliable publishers reach both reliable and best-effort
    subscribers (rqt_image_view, RViz), so reliable is the compatible default."""
    image = _qos(5)
    state = _qos(10)
    expression = _qos(10)
    # One second of 20 ms chunks: a slow subscriber should not lose speech.
    audio = _qos(50)
    diagnostics = _qos(10)


@dataclass(frozen=True)
class Param:
    """One declared parameter. ``check`` returns a reason string to reject a value."""
    name: str
    default: Any
    description: str
    choices: tuple = ()
    range: tuple[float, float] | None = None
    check: Callable[[Any], str | None] | None = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        notes = []
        if self.choices:
            notes.append("one of: " + ", ".join(map(str, self.choices)))
        if self.range is not None:
            lo, hi = self.range
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
            elif isinstance(self.default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
            notes.append(f"range [{lo}, {hi}]")
        d.additional_constraints = "; ".join(notes)
        return d

    def reject_reason(self, value: Any) -> str | None:
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {list(self.choices)}"
        if self.range is not None and not isinstance(value, (bool, str, list)):
            lo, hi = self.range
            if not lo <= value <= hi:
                return f"{self.name}={value!r} is outside [{lo}, {hi}]"
        if self.check is not None:
            reason = self.check(value)
            if reason:
                return f"{self.name}={value!r}: {reason}"
        return None


AUDIO_RELIABILITY = Param(
    "audio_reliability", "reliable",
    "QoS of the audio subscriptions: best_effort also accepts best-effort publishers (allowed "
    "for audio), reliable never drops chunks from reliable ones", choices=("reliable", "best_effort"),
    read_only=True)


MAX_CHUNK = Param(
    "max_chunk_s", MAX_CHUNK_S,
    "longest AudioChunk accepted, in seconds; longer ones are dropped with a warning", range=MAX_CHUNK_RANGE_S)


class AvatarNode(Node):
    """Base class: parameters from ``PARAMS``, diagnostics, guarded callbacks."""

    PARAMS: tuple[Param, ...] = ()
    DIAGNOSTICS_PERIOD_S = 1.0

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        self._specs = {p.name: p for p in self.PARAMS}
        self._values: dict[str, Any] = {}
        self._values_lock = threading.Lock()
        self._declared = False
        self.diag = DiagnosticsWindow()
        # Registered before declaring, so that values from YAML or --ros-args are validated too.
        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._apply)
        for p in self.PARAMS:
            self.declare_parameter(p.name, p.default, p.descriptor())
        self._declared = True
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", QOS.diagnostics)
        self.create_timer(self.DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)

    def audio_qos(self, depth: int | None = None) -> QoSProfile:
        """QOS.audio with this node's ``audio_reliability`` (the node lists AUDIO_RELIABILITY)."""
        best_effort = self.param("audio_reliability") == "best_effort"
        return _qos(depth or QOS.audio.depth, reliable=not best_effort)

    def check_chunk(self, msg) -> float:
        """An AudioChunk's duration in s; InputError (the guarded callback drops it with a throttled
        warning) when it is longer than this node's ``max_chunk_s`` (the node lists MAX_CHUNK)."""
        return check_chunk_length(len(msg.samples), msg.sample_rate, msg.channels, self.param("max_chunk_s"))

    # -- parameters ---------------------------------------------------------
    def param(self, name: str) -> Any:
        with self._values_lock:
            return self._values[name]

    def _validate(self, params) -> SetParametersResult:
        for prm in params:
            spec = self._specs.get(prm.name)
            if spec is None:
                continue  # use_sim_time and friends
            reason = spec.reject_reason(prm.value) or (self.reject_change(prm.name, prm.value)
                                                        if self._declared else None)
            if reason:
                self.get_logger().warning(f"rejected parameter: {reason}")
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply(self, params) -> None:
        changed = {}
        with self._values_lock:
            for prm in params:
                if prm.name in self._specs:
                    self._values[prm.name] = prm.value
                    changed[prm.name] = prm.value
        if changed and self._declared:
            self.guarded(self.on_parameters_changed, "parameter update")(changed)

    def on_parameters_changed(self, changed: dict[str, Any]) -> None:
        """Hook: called after validated runtime changes (not during declaration)."""

    def reject_change(self, name: str, value: Any) -> str | None:
        """Hook: a reason to refuse a runtime change that passed the declared checks (content checks
        that need the node, e.g. decoding a new portrait); None accepts it."""
        return None

    # -- robustness ---------------------------------------------------------
    def guarded(self, fn: Callable, what: str) -> Callable:
        """Wrap a callback so that an exception is logged and counted, never fatal.

        AvatarError (bad input) is a warning and the message is dropped; anything
        else is an error with its type, and the node keeps running.
        """
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except AvatarError as err:
                self.diag.count("dropped_inputs")
                self.get_logger().warning(f"{what}: dropped: {err}", throttle_duration_sec=1.0)
            except Exception as err:  # noqa: BLE001 - a node must outlive a failing core
                self.diag.count("callback_errors")
                self.get_logger().error(f"{what} failed: {type(err).__name__}: {err}",
                                        throttle_duration_sec=1.0)
            return None
        return wrapper

    def subscribe(self, msg_type, topic: str, callback: Callable, qos: QoSProfile, raw: bool = False):
        """A guarded subscription that logs each change in its matched publishers and warns
        (and counts ``messages_lost``) when DDS reports samples lost before they reached us."""
        resolved = self.resolve_topic_name(topic)

        def matched(status) -> None:
            if status.current_count_change:
                self.get_logger().info(f"{resolved}: {status.current_count} publisher(s) matched")

        def lost(status) -> None:
            self.diag.count("messages_lost", status.total_count_change)
            self.get_logger().warning(f"{resolved}: {status.total_count_change} message(s) lost in transport",
                                      throttle_duration_sec=1.0)

        events = SubscriptionEventCallbacks(matched=matched, message_lost=lost)
        return self.create_subscription(msg_type, topic, self.guarded(callback, f"callback on {topic}"), qos,
                                        event_callbacks=events, raw=raw)

    def every(self, period_s: float, callback: Callable, what: str = "timer"):
        return self.create_timer(period_s, self.guarded(callback, what))

    # -- diagnostics --------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        level, message, values = self.diag.snapshot()
        status = DiagnosticStatus(
            level=bytes([level]), name=f"avatar: {self.get_name()}", message=message,
            hardware_id=self.get_fully_qualified_name(),
            values=[KeyValue(key=k, value=v) for k, v in sorted(values.items())])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    def start_up(self) -> None:
        """Hook: called by run_node once the node is built, before spinning (lifecycle nodes
        configure and activate themselves here when ``autostart`` is true)."""

    def close(self) -> None:
        """Hook: release resources and finalise outputs. Called once on shutdown."""


def _announce_ready(node: Node) -> None:
    """Touch $AVATAR_READY_DIR/<node name> once the node is built (parameters, model, subscriptions):
    `avatar launch` starts the audio sources only when every other node has done so."""
    ready_dir = os.environ.get("AVATAR_READY_DIR")
    if ready_dir:
        Path(ready_dir, node.get_name()).touch()


def run_node(node_class: type[AvatarNode], args: list[str] | None = None) -> int:
    """Standard main(): init, spin until SIGINT/SIGTERM, close, shut down. Returns an exit code."""
    # rclpy's default signal handlers turn SIGINT and SIGTERM into a context shutdown,
    # which ends spin() with ExternalShutdownException.
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        node.start_up()
        _announce_ready(node)
        # Single-threaded on purpose. Every callback sits in the node's default mutually
        # exclusive group, so extra executor threads bring no parallelism (heavy work runs in
        # the cores' own worker threads). And rclpy Jazzy's MultiThreadedExecutor (2 threads)
        # sometimes stalls on an idle machine: a 25 Hz 256² image stream arrived 30 of 250 times
        # with 115 ms median latency, against 250 of 250 and 0.4 ms single-threaded
        # (docs/OUTPUT.md, "Executor").
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (AvatarError, rclpy.exceptions.ParameterException) as err:
        print(f"{node_class.__name__}: error: {err}", file=sys.stderr)
        return 1
    except RuntimeError:
        # A signal that lands mid-spin can surface as RCLError ("context is not valid") while
        # the wait set is built, or as pybind11's "Unable to convert call argument" while a
        # message is taken from a context being shut down: the same clean shutdown.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def count_publishers(topic: str, wait_s: float = 4.0) -> int:
    """Publishers on ``topic`` seen by a short-lived node of its own (e.g. another avatar graph
    already running), waiting up to ``wait_s`` for DDS discovery to find them (2 s was too short
    with a CPU hog on the other core of a 2-core machine)."""
    from rclpy.context import Context
    context = Context()
    rclpy.init(context=context, args=[])
    try:
        node = rclpy.create_node("avatar_launch_probe", context=context, start_parameter_services=False)
        deadline = time.monotonic() + wait_s
        count = node.count_publishers(topic)
        while count == 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the discovery database, not pacing data
            count = node.count_publishers(topic)
        node.destroy_node()
        return count
    finally:
        rclpy.try_shutdown(context=context)

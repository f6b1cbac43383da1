"""expression_control: expression commands + conversational state -> /avatar/expression at the frame rate.

Inputs: ROS4HRI-style Expression on /robot_face/expression (a named expression,
or valence/arousal when ``expression`` is empty; scaled by confidence),
fine-grained ExpressionControl overrides on /avatar/expression/set (NaN releases
a control; out-of-range values are clamped with a warning; a message with an unknown
name or an infinite value is dropped with a warning), and /avatar/state for the
state defaults (attentive with small nods while listening, relaxed while idle).
Output: every canonical control, moving smoothly under per-control speed limits.
"""
import sys

from avatar.core.errors import AvatarError, InputError
from avatar.core.expression import NAMES
from avatar.core.expression_smoothing import DEFAULT_RATES, ControllerConfig, ExpressionController, parse_rates
from avatar.core.state_machine import State
from avatar.core.timebase import FPS
from avatar.msg import AvatarState, Expression, ExpressionControl
from avatar.nodes.audio_msg import to_stamp
from avatar.nodes.toolkit import QOS, AvatarNode, Param, run_node


def _split(text: str) -> list[str]:
    return [item for item in (p.strip() for p in text.split(",")) if item]


def check_rates(text: str) -> str | None:
    try:
        parse_rates(_split(text))
    except AvatarError as err:
        return str(err)
    return None


class ExpressionControlNode(AvatarNode):
    PARAMS = (
        Param("rate_hz", float(FPS), "publish rate of /avatar/expression (the video frame rate)", range=(1.0, 100.0)),
        Param("rate_scale", 1.0, "multiplies every control's speed limit", range=(0.05, 20.0)),
        Param("rate_overrides", "", "per-control speed limits in units/s, e.g. 'head_nod=0.8,gaze_x=6'; defaults: "
              + ", ".join(f"{k}={v}" for k, v in DEFAULT_RATES.items()), check=check_rates),
        Param("smoothing_s", 0.15, "time constant of the ease towards the target", range=(0.0, 2.0)),
        Param("expression_timeout_s", 0.0, "back to neutral after this long without an Expression (0 = hold)",
              range=(0.0, 3600.0)),
        Param("override_timeout_s", 0.0, "release overrides after this long (0 = until released with NaN)",
              range=(0.0, 3600.0)),
        Param("state_defaults", True, "attentive while listening, relaxed while idle"),
        Param("nod_amplitude", 0.15, "head_nod of the listening nods (0 = no nods)", range=(0.0, 1.0)),
        Param("nod_period_s", 2.5, "seconds between listening nods", range=(0.7, 30.0)),
    )

    def __init__(self, **kwargs):
        super().__init__("expression_control", **kwargs)
        self._ctl = ExpressionController(self._config(), self._now())
        self._pub = self.create_publisher(ExpressionControl, "/avatar/expression", QOS.expression)
        self.subscribe(Expression, "/robot_face/expression", self._on_expression, QOS.expression)
        self.subscribe(ExpressionControl, "/avatar/expression/set", self._on_set, QOS.expression)
        self.subscribe(AvatarState, "/avatar/state", self._on_state, QOS.state)
        self._timer = self.every(1.0 / self.param("rate_hz"), self._publish, "expression publish")

    def _config(self) -> ControllerConfig:
        return ControllerConfig(
            max_rates=parse_rates(_split(self.param("rate_overrides")), self.param("rate_scale")),
            smoothing_s=self.param("smoothing_s"), expression_timeout_s=self.param("expression_timeout_s"),
            override_timeout_s=self.param("override_timeout_s"), state_defaults=self.param("state_defaults"),
            nod_amplitude=self.param("nod_amplitude"), nod_period_s=self.param("nod_period_s"))

    def on_parameters_changed(self, changed) -> None:
        if "rate_hz" in changed:
            self._timer.timer_period_ns = int(1e9 / changed["rate_hz"])
        self._ctl.reconfigure(self._config())

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_expression(self, msg: Expression) -> None:
        if msg.confidence == 0.0:
            self.get_logger().warning("Expression with confidence 0 shows nothing; set confidence (0..1)",
                                      throttle_duration_sec=10.0)
        if msg.expression:
            self._ctl.set_expression(msg.expression, msg.confidence, self._now())
        else:
            self._ctl.set_valence_arousal(msg.valence, msg.arousal, msg.confidence, self._now())
        self.diag.set("expression", msg.expression or f"valence={msg.valence:.2f} arousal={msg.arousal:.2f}")

    def _on_set(self, msg: ExpressionControl) -> None:
        # Unknown names and infinities drop the message (InputError); out of range: clamped.
        warn = lambda line: self.get_logger().warning(line, throttle_duration_sec=1.0)   # noqa: E731
        self._ctl.set_overrides(list(msg.names), list(msg.values), self._now(), warn)

    def _on_state(self, msg: AvatarState) -> None:
        try:
            state = State(msg.state)
        except ValueError:
            raise InputError(f"unknown AvatarState.state {msg.state}") from None
        self._ctl.set_state(state, self._now())

    def _publish(self) -> None:
        now = self._now()
        values = self._ctl.step(now)
        msg = ExpressionControl(names=list(NAMES), values=[float(v) for v in values])
        msg.header.stamp = to_stamp(now)
        self._pub.publish(msg)
        self.diag.tick("published")


def main(args=None):
    return run_node(ExpressionControlNode, args)


if __name__ == "__main__":
    sys.exit(main())

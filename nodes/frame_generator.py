"""frame_generator: speech audio + state + expression -> /avatar/image (rgb8, 25 FPS).

A thin adapter over avatar.model_runtime.engine.live.LiveSession: the model is
loaded before spinning; frames are published from the engine's output thread
with header.stamp = the audio time the frame shows.
"""
import sys
import threading
from pathlib import Path

import numpy as np
from sensor_msgs.msg import Image

from avatar.core.errors import InputError
from avatar.core.expression import INDEX, neutral_vector
from avatar.core.image_io import load_image
from avatar.core.paths import asset
from avatar.model_runtime.engine.backends import load_runtime_model
from avatar.model_runtime.engine.live import LiveSession
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.engine.streaming import EngineConfig
from avatar.msg import AudioChunk, AvatarState, ExpressionControl
from avatar.nodes.audio_msg import from_stamp, msg_to_mono, to_stamp
from avatar.nodes.toolkit import AUDIO_RELIABILITY, QOS, AvatarNode, Param, run_node


def _image_check(path: str) -> str | None:
    if path and not Path(path).is_file():
        return "no such file"
    return None


class FrameGenerator(AvatarNode):
    PARAMS = (
        AUDIO_RELIABILITY,
        Param("portrait", "", "reference portrait image; empty = bundled example", check=_image_check),
        Param("checkpoint", "", "model checkpoint; empty = bundled default", read_only=True),
        Param("size", 256, "frame side in pixels (multiple of 32)", range=(64, 1024), read_only=True,
              check=lambda v: "must be a multiple of 32" if v % 32 else None),
        Param("steps", 2, "sampling steps per clip", range=(1, 4), read_only=True),
        Param("dtype", "bf16", "network precision", choices=("fp32", "bf16", "int8"), read_only=True),
        Param("first_clip", 2, "frames in the first clip after start or a state switch", range=(1, 16),
              read_only=True),
        Param("clip", 4, "frames per clip in steady state (latency vs throughput)", range=(1, 16),
              read_only=True),
        Param("degrade_lag_ms", 200.0, "lag behind the audio clock that switches to 1 step",
              range=(0.0, 5000.0), read_only=True),
        Param("skip_lag_ms", 600.0, "lag that skips frames to catch up", range=(0.0, 10000.0), read_only=True),
        Param("seed", 0, "noise seed", range=(0, 2**31 - 1), read_only=True),
        Param("frame_id", "avatar_face", "header.frame_id of published images"),
    )

    def __init__(self, **kwargs):
        super().__init__("frame_generator", **kwargs)
        portrait = load_image(self.param("portrait") or asset("portrait.png"))
        model = load_runtime_model(self.param("checkpoint") or None, dtype=self.param("dtype"),
                                   size=self.param("size"), image=portrait)
        planner = PlannerConfig(first_clip=min(self.param("first_clip"), self.param("clip")),
                                clip=self.param("clip"), steps=self.param("steps"), min_steps=1,
                                degrade_lag_ms=self.param("degrade_lag_ms"), skip_lag_ms=self.param("skip_lag_ms"))
        config = EngineConfig(planner=planner, seed=self.param("seed"), live=True)
        origin = self.get_clock().now().nanoseconds * 1e-9
        self.session = LiveSession(model, portrait, config, origin)
        self.image_pub = self.create_publisher(Image, "/avatar/image", QOS.image)
        self.subscribe(AudioChunk, "/avatar/speech/audio", self.on_audio, self.audio_qos())
        self.subscribe(AvatarState, "/avatar/state", self.on_state, QOS.state)
        self.subscribe(ExpressionControl, "/avatar/expression", self.on_expression, QOS.expression)
        self.diag.set("backend", getattr(model, "backend", "torch"))
        self.diag.set("size", self.param("size"))
        self._closing = False
        self.session.start()
        self._publisher = threading.Thread(target=self._publish_frames, name="frame-publisher", daemon=True)
        self._publisher.start()
        self.get_logger().info(f"generating {self.param('size')}px frames with {self.param('steps')} steps "
                               f"({getattr(model, 'backend', 'torch')})")

    def on_audio(self, msg: AudioChunk) -> None:
        mono, rate, stamp = msg_to_mono(msg)
        if not self.session.push_audio(mono, rate, stamp):
            raise InputError(f"audio chunk stamped {stamp:.3f} s is outside the session's time range")

    def on_state(self, msg: AvatarState) -> None:
        if msg.state not in (AvatarState.IDLE, AvatarState.LISTENING, AvatarState.SPEAKING):
            raise InputError(f"unknown state {msg.state}")
        self.session.push_state(msg.state, from_stamp(msg.header.stamp))

    def on_expression(self, msg: ExpressionControl) -> None:
        if len(msg.names) != len(msg.values):
            raise InputError(f"{len(msg.names)} names but {len(msg.values)} values")
        vector = np.asarray(neutral_vector(), np.float32)
        for name, value in zip(msg.names, msg.values):
            if name not in INDEX or not np.isfinite(value):
                raise InputError(f"bad expression control {name}={value}")
            vector[INDEX[name]] = value
        self.session.push_expression(vector, from_stamp(msg.header.stamp))

    def on_parameters_changed(self, changed: dict) -> None:
        if "portrait" in changed:
            self.session.set_portrait(load_image(changed["portrait"] or asset("portrait.png")))
            self.get_logger().info(f"portrait changed to {changed['portrait'] or 'bundled example'}")

    def _publish_frames(self) -> None:
        try:
            for out in self.session.frames():
                if self._closing:
                    break
                rgb = out.frame.rgb
                msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", is_bigendian=0,
                            step=rgb.shape[1] * 3, data=rgb.tobytes())
                msg.header.stamp = to_stamp(out.stamp_s)
                msg.header.frame_id = self.param("frame_id")
                self.image_pub.publish(msg)
                self.diag.tick("frames")
                self.diag.sample("audio_to_frame_ms", out.latency_ms)
                if out.frame.degraded:
                    self.diag.count("degraded_frames")
                    self.diag.status(1, "behind the audio clock: degrading")
                if self.session.first_frame_ms is not None:
                    self.diag.set("first_frame_ms", f"{self.session.first_frame_ms:.0f}")
        except Exception as err:  # noqa: BLE001 - the engine died: report it, keep the node alive
            if self._closing:
                return
            self.diag.status(2, f"engine stopped: {type(err).__name__}: {err}")
            self.get_logger().error(f"engine stopped: {type(err).__name__}: {err}")

    def close(self) -> None:
        self._closing = True
        self.session.stop()
        self._publisher.join(timeout=5)


def main(args=None):
    return run_node(FrameGenerator, args)


if __name__ == "__main__":
    sys.exit(main())

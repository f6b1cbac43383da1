"""frame_generator: speech audio + state + expression -> /avatar/image (rgb8, 25 FPS) and
/avatar/face_motion (the face-motion vector each frame was drawn from).

A thin adapter over avatar.model_runtime.engine.live.LiveSession: the renderer, the
motion generator and the portrait are loaded before spinning; frames and motion are
published from the engine's output thread with header.stamp = the audio time the
frame shows. A new ``portrait`` is decoded and its face found inside the
set-parameters callback, so an unusable image is refused with a reason and the old
face stays (value and face consistent).
"""
import sys
import threading
from pathlib import Path

import numpy as np
from sensor_msgs.msg import Image

from avatar.core import face_motion
from avatar.core.errors import AvatarError, InputError
from avatar.core.expression import control_vector
from avatar.core.image_io import load_image
from avatar.core.paths import asset
from avatar.model_runtime.engine.live import LiveSession
from avatar.model_runtime.engine.motion_source import load_motion_source
from avatar.model_runtime.engine.planner import LIVE_CLIP, PlannerConfig
from avatar.model_runtime.engine.streaming import EngineConfig
from avatar.model_runtime.renderers import DEFAULT_RENDERER, FRAMINGS, RENDERER_NAMES, load_renderer
from avatar.msg import AudioChunk, AvatarState, ExpressionControl, FaceMotion
from avatar.nodes.audio_msg import from_stamp, msg_to_mono, to_stamp
from avatar.nodes.toolkit import AUDIO_RELIABILITY, MAX_CHUNK, QOS, AvatarNode, Param, run_node


def _image_check(path: str) -> str | None:
    if path and not Path(path).is_file():
        return "no such file"
    return None


def _size_check(size: int) -> str | None:
    return "must be 0 (the renderer's default) or a multiple of 32" if size % 32 else None


class FrameGenerator(AvatarNode):
    PARAMS = (
        AUDIO_RELIABILITY,
        MAX_CHUNK,
        Param("portrait", "", "portrait image (any photo or drawing with a face); empty = bundled example",
              check=_image_check),
        Param("renderer", DEFAULT_RENDERER, "what draws the face: warp (any portrait) or diffusion",
              choices=RENDERER_NAMES, read_only=True),
        Param("checkpoint", "", "diffusion renderer checkpoint; empty = bundled default", read_only=True),
        Param("motion_checkpoint", "", "motion generator checkpoint; empty = bundled default", read_only=True),
        Param("size", 0, "face crop side in pixels (multiple of 32); 0 = the renderer's default", range=(0, 1024),
              read_only=True, check=_size_check),
        Param("max_side", 1024, "published frames: the whole portrait downscaled to this longest side",
              range=(64, 4096), read_only=True),
        Param("framing", "face", "face: find, animate and paste back the portrait's face; whole: the image "
              "already is a renderer-framed face crop (diffusion only)", choices=FRAMINGS, read_only=True),
        Param("steps", PlannerConfig.steps, "sampling steps per clip", range=(1, 4), read_only=True),
        Param("dtype", "bf16", "network precision", choices=("fp32", "bf16", "int8"), read_only=True),
        Param("first_clip", PlannerConfig.first_clip, "frames in the first clip after start or a state switch",
              range=(1, 16), read_only=True),
        Param("clip", LIVE_CLIP, "frames per clip in steady state (latency vs throughput)", range=(1, 16),
              read_only=True),
        Param("degrade_lag_ms", PlannerConfig.degrade_lag_ms, "lag behind the audio clock that switches to 1 step",
              range=(0.0, 5000.0), read_only=True),
        Param("skip_lag_ms", PlannerConfig.skip_lag_ms, "lag that skips frames to catch up", range=(0.0, 10000.0),
              read_only=True),
        Param("seed", 0, "noise seed", range=(0, 2**31 - 1), read_only=True),
        Param("frame_id", "avatar_face", "header.frame_id of published images"),
    )

    def __init__(self, **kwargs):
        super().__init__("frame_generator", **kwargs)
        self._pending_face = None     # (path, prepared face) checked in the set-parameters callback
        portrait = load_image(self.param("portrait") or asset("portrait.png"))
        renderer = load_renderer(self.param("renderer"), self.param("size") or None, dtype=self.param("dtype"),
                                 checkpoint=self.param("checkpoint") or None, image=portrait)
        motion = load_motion_source(self.param("motion_checkpoint") or None)
        planner = PlannerConfig(first_clip=min(self.param("first_clip"), self.param("clip")),
                                clip=self.param("clip"), steps=self.param("steps"), min_steps=1,
                                degrade_lag_ms=self.param("degrade_lag_ms"), skip_lag_ms=self.param("skip_lag_ms"))
        config = EngineConfig(planner=planner, seed=self.param("seed"), live=True, max_side=self.param("max_side"),
                              framing=self.param("framing"))
        origin = self.get_clock().now().nanoseconds * 1e-9
        self.session = LiveSession(renderer, motion, portrait, config, origin)
        self.image_pub = self.create_publisher(Image, "/avatar/image", QOS.image)
        self.motion_pub = self.create_publisher(FaceMotion, "/avatar/face_motion", QOS.image)
        self.subscribe(AudioChunk, "/avatar/speech/audio", self.on_audio, self.audio_qos())
        self.subscribe(AvatarState, "/avatar/state", self.on_state, QOS.state)
        self.subscribe(ExpressionControl, "/avatar/expression", self.on_expression, QOS.expression)
        self.diag.set("renderer", f"{renderer.name} {renderer.size}px ({getattr(renderer, 'backend', 'cpu')})")
        self.diag.set("frame", "x".join(map(str, self.session.engine.frame_shape[::-1])))
        self._closing = False
        self.session.start()
        self._publisher = threading.Thread(target=self._publish_frames, name="frame-publisher", daemon=True)
        self._publisher.start()
        height, width = self.session.engine.frame_shape
        self.get_logger().info(f"{renderer.name} renderer: {renderer.size}px face crop in {width}x{height} frames, "
                               f"{self.param('steps')} steps")

    def on_audio(self, msg: AudioChunk) -> None:
        self.check_chunk(msg)
        mono, rate, stamp = msg_to_mono(msg)
        if not self.session.push_audio(mono, rate, stamp):
            raise InputError(f"audio chunk stamped {stamp:.3f} s is outside the session's time range")

    def on_state(self, msg: AvatarState) -> None:
        if msg.state not in (AvatarState.IDLE, AvatarState.LISTENING, AvatarState.SPEAKING):
            raise InputError(f"unknown state {msg.state}")
        self.session.push_state(msg.state, from_stamp(msg.header.stamp))

    def on_expression(self, msg: ExpressionControl) -> None:
        # Unknown names and non-finite values drop the message (InputError); out of range: clamped.
        warn = lambda line: self.get_logger().warning(line, throttle_duration_sec=1.0)   # noqa: E731
        vector = np.asarray(control_vector(msg.names, msg.values, warn), np.float32)
        self.session.push_expression(vector, from_stamp(msg.header.stamp))

    def reject_change(self, name: str, value) -> str | None:
        """Decode the new portrait and find its face before the change is accepted."""
        if name != "portrait" or not hasattr(self, "session"):
            return None           # at declaration the portrait is loaded (and checked) by __init__
        try:
            face = self.session.engine.prepare_face(load_image(value or asset("portrait.png")))
        except AvatarError as err:
            return f"portrait {value!r}: {err}"
        self._pending_face = (value, face)
        return None

    def on_parameters_changed(self, changed: dict) -> None:
        if "portrait" in changed and self._pending_face is not None:
            path, face = self._pending_face
            self._pending_face = None
            self.session.engine.set_face(face)
            self.get_logger().info(f"portrait changed to {path or 'bundled example'}")

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
                motion = FaceMotion(names=list(face_motion.NAMES), values=out.frame.motion.tolist())
                motion.header = msg.header
                self.motion_pub.publish(motion)
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

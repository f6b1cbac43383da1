"""frame_generator: speech audio + state + expression + look-at -> /avatar/image (rgb8, 25 FPS),
/avatar/image/compressed (JPEG) and /avatar/face_motion (the face-motion vector each frame
was drawn from).

A managed node (nodes/lifecycle.py) and a thin adapter over
avatar.model_runtime.engine.live.LiveSession:
* configure loads the renderer, the motion generator and the portrait (its face is found);
* activate starts the engine on a fresh audio timeline and the publishing thread; frames,
  their JPEG (encoded on its own thread, core/jpeg_encoder.py) and motion go out with
  header.stamp = the audio time the frame shows;
* deactivate stops the engine and publishing, keeping the models; cleanup frees them.
A new ``portrait`` is decoded and its face found inside the set-parameters callback, so an
unusable image is refused with a reason and the old face stays (value and face consistent).

/robot_face/look_at (geometry_msgs/PointStamped, core/look_at.py): while a target is fresh its
gaze overrides the expression's gaze_x/gaze_y (so both renderers follow it, the diffusion
renderer through its gaze controls) and a small head turn is added to the generated motion.
"""
import sys
import threading
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PointStamped
from rclpy.publisher import Publisher
from rclpy.timer import Timer
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from avatar.core import face_motion
from avatar.core.errors import AvatarError, InputError
from avatar.core.expression import INDEX, control_vector, neutral_vector
from avatar.core.image_io import load_image
from avatar.core.look_at import LOOK_AT_TIMEOUT_S, LookAtConfig, LookAtTracker, StaticTransform, WithHeadTurn, resolve
from avatar.core.paths import asset
from avatar.model_runtime.engine.live import LiveSession
from avatar.model_runtime.engine.motion_source import ExplicitMotion, load_motion_source
from avatar.model_runtime.engine.planner import LIVE_CLIP, PlannerConfig
from avatar.model_runtime.engine.streaming import EngineConfig
from avatar.model_runtime.renderers import DEFAULT_RENDERER, FRAMINGS, RENDERER_NAMES, load_renderer
from avatar.msg import AudioChunk, AvatarState, ExpressionControl, FaceMotion
from avatar.nodes.audio_msg import from_stamp, msg_to_mono, to_stamp
from avatar.nodes.image_out import JPEG_QUALITY_PARAM, CompressedImageOut, use_large_message_transport
from avatar.nodes.lifecycle import AUTOSTART, AvatarLifecycleNode
from avatar.nodes.toolkit import AUDIO_RELIABILITY, MAX_CHUNK, QOS, Param, run_node

LOOK_PERIOD_S = 0.04      # the head eases and an expired target is released at the frame rate


def _image_check(path: str) -> str | None:
    if path and not Path(path).is_file():
        return "no such file"
    return None


def _size_check(size: int) -> str | None:
    return "must be 0 (the renderer's default) or a multiple of 32" if size % 32 else None


def _triple_check(values) -> str | None:
    return None if len(values) == 3 and np.all(np.isfinite(values)) else "needs three finite numbers"


class FrameGenerator(AvatarLifecycleNode):
    PARAMS = (
        AUTOSTART,
        AUDIO_RELIABILITY,
        MAX_CHUNK,
        Param("portrait", "", "portrait image (any photo or drawing with a face); empty = bundled example",
              check=_image_check),
        Param("renderer", DEFAULT_RENDERER, "what draws the face: warp (any portrait) or diffusion",
              choices=RENDERER_NAMES, read_only=True),
        Param("checkpoint", "", "diffusion renderer checkpoint; empty = bundled default", read_only=True),
        Param("motion_checkpoint", "", "motion generator checkpoint; empty = bundled default", read_only=True),
        Param("motion", "generator", "what moves the face: generator (speech, state and idle behaviour "
              "learned from the corpus) or explicit (the commanded controls alone, on a still face)",
              choices=("generator", "explicit"), read_only=True),
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
        Param("frame_id", "avatar_face", "header.frame_id of published images; also the face frame of "
              "/robot_face/look_at (x right, y up, z toward the viewer, metres, eyes at the origin)"),
        JPEG_QUALITY_PARAM,
        Param("look_at_timeout_s", LOOK_AT_TIMEOUT_S, "gaze returns to its idle behaviour this long after the "
              "last /robot_face/look_at target", range=(0.1, 3600.0)),
        Param("look_at_camera_frame", "", "a second frame accepted on /robot_face/look_at (no tf2 here), e.g. "
              "the robot's camera; empty = the face frame only", read_only=True),
        Param("look_at_camera_xyz", [0.0, 0.0, 0.0], "that frame's origin in the face frame, metres",
              check=_triple_check, read_only=True),
        Param("look_at_camera_rpy", [0.0, 0.0, 0.0], "that frame's orientation in the face frame: fixed-axis "
              "roll, pitch, yaw in radians (as URDF and static_transform_publisher)",
              check=_triple_check, read_only=True),
    )

    def __init__(self, **kwargs):
        super().__init__("frame_generator", **kwargs)
        self._pending_face = None     # (path, prepared face) checked in the set-parameters callback
        self.session: LiveSession | None = None
        self._loaded = None           # (renderer, motion source, portrait image) from configure
        self._handles: list = []      # subscriptions, publishers and timers made by configure
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None
        self.compressed: CompressedImageOut | None = None
        self.look = LookAtTracker(self.param("look_at_timeout_s"))
        self._head = (0.0, 0.0)       # (yaw, pitch) read by the engine's thread once per clip
        self._looking = False
        self._expression = np.asarray(neutral_vector(), np.float32)   # the last commanded vector

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _look_config(self) -> LookAtConfig:
        """The frames /robot_face/look_at accepts (the face frame follows ``frame_id``)."""
        camera = self.param("look_at_camera_frame")
        transform = StaticTransform.from_xyz_rpy(self.param("look_at_camera_xyz"),
                                                 self.param("look_at_camera_rpy")) if camera else None
        return LookAtConfig(face_frame=self.param("frame_id"), camera_frame=camera, camera=transform)

    # -- lifecycle ----------------------------------------------------------------
    def configure(self) -> None:
        portrait = load_image(self.param("portrait") or asset("portrait.png"))
        renderer = load_renderer(self.param("renderer"), self.param("size") or None, dtype=self.param("dtype"),
                                 checkpoint=self.param("checkpoint") or None, image=portrait)
        source = (ExplicitMotion() if self.param("motion") == "explicit"
                  else load_motion_source(self.param("motion_checkpoint") or None))
        motion = WithHeadTurn(source, lambda: self._head)
        self._loaded = (renderer, motion, portrait)
        self.session = self._new_session()     # finds the face now: a portrait without one fails here
        self.image_pub = self.create_publisher(Image, "/avatar/image", QOS.image)
        self.motion_pub = self.create_publisher(FaceMotion, "/avatar/face_motion", QOS.image)
        # The engine emits a clip of frames at once: the encoder's queue holds two clips (2.8 ms per
        # 512x512 JPEG here; a depth-2 queue lost one frame in four to the bursts).
        self.compressed = CompressedImageOut(self, "/avatar/image", self.param("jpeg_quality"),
                                             depth=2 * max(self.param("clip"), self.param("first_clip")) + 1)
        self._handles = [
            self.image_pub, self.motion_pub,
            self.subscribe(AudioChunk, "/avatar/speech/audio", self.on_audio, self.audio_qos()),
            self.subscribe(AvatarState, "/avatar/state", self.on_state, QOS.state),
            self.subscribe(ExpressionControl, "/avatar/expression", self.on_expression, QOS.expression),
            self.subscribe(PointStamped, "/robot_face/look_at", self.on_look_at, QOS.state),
            self.every(LOOK_PERIOD_S, self._follow_look, "look-at")]
        self.diag.set("renderer", f"{renderer.name} {renderer.size}px ({getattr(renderer, 'backend', 'cpu')})")
        height, width = self.session.engine.frame_shape
        self.diag.set("frame", f"{width}x{height}")
        self.get_logger().info(f"{renderer.name} renderer: {renderer.size}px face crop in {width}x{height} frames, "
                               f"{self.param('steps')} steps")

    def _new_session(self) -> LiveSession:
        renderer, motion, portrait = self._loaded
        planner = PlannerConfig(first_clip=min(self.param("first_clip"), self.param("clip")),
                                clip=self.param("clip"), steps=self.param("steps"), min_steps=1,
                                degrade_lag_ms=self.param("degrade_lag_ms"), skip_lag_ms=self.param("skip_lag_ms"))
        config = EngineConfig(planner=planner, seed=self.param("seed"), live=True, max_side=self.param("max_side"),
                              framing=self.param("framing"))
        return LiveSession(renderer, motion, portrait, config, self._now())

    def activate(self) -> None:
        if self.session is None:                # re-activation: a fresh engine, same models
            self.session = self._new_session()
        # The audio timeline starts now, not at configure (the engine's clock starts with start()).
        self.session.origin_s = self._now()
        self._stop = threading.Event()
        self.session.start()
        self._publisher = threading.Thread(target=self._publish_frames, args=(self.session, self._stop),
                                           name="frame-publisher", daemon=True)
        self._publisher.start()

    def deactivate(self) -> None:
        self._stop.set()
        session, self.session = self.session, None
        if session is not None:
            session.stop()
        if self._publisher is not None:
            self._publisher.join(timeout=5)
            self._publisher = None

    def cleanup(self) -> None:
        self.deactivate()                       # also after a failed configure or activate
        for handle in self._handles:
            self._destroy(handle)
        self._handles = []
        if self.compressed is not None:
            self.compressed.close()
            self.compressed = None
        self._loaded = None
        self.look.clear()
        self._head, self._looking = (0.0, 0.0), False

    def _destroy(self, handle) -> None:
        if isinstance(handle, Timer):
            self.destroy_timer(handle)
        elif isinstance(handle, Publisher):
            self.destroy_publisher(handle)
        else:
            self.destroy_subscription(handle)

    # -- inputs -------------------------------------------------------------------
    def on_audio(self, msg: AudioChunk) -> None:
        self.check_chunk(msg)
        if self.session is None:
            return                               # inactive: nothing is generated
        mono, rate, stamp = msg_to_mono(msg)
        if not self.session.push_audio(mono, rate, stamp):
            raise InputError(f"audio chunk stamped {stamp:.3f} s is outside the session's time range")

    def on_state(self, msg: AvatarState) -> None:
        if msg.state not in (AvatarState.IDLE, AvatarState.LISTENING, AvatarState.SPEAKING):
            raise InputError(f"unknown state {msg.state}")
        if self.session is not None:
            self.session.push_state(msg.state, from_stamp(msg.header.stamp))

    def on_expression(self, msg: ExpressionControl) -> None:
        # Unknown names and non-finite values drop the message (InputError); out of range: clamped.
        warn = lambda line: self.get_logger().warning(line, throttle_duration_sec=1.0)   # noqa: E731
        self._expression = np.asarray(control_vector(msg.names, msg.values, warn), np.float32)
        self._push_expression(from_stamp(msg.header.stamp))

    def _push_expression(self, stamp_s: float) -> None:
        """The last commanded expression, its gaze replaced by a fresh look-at target's."""
        if self.session is None:
            return
        vector = self._expression.copy()
        gaze = self.look.current(self._now())
        if gaze is not None:
            vector[INDEX["gaze_x"]], vector[INDEX["gaze_y"]] = gaze.gaze_x, gaze.gaze_y
        self.session.push_expression(vector, stamp_s)

    def on_look_at(self, msg: PointStamped) -> None:
        p = msg.point
        gaze = resolve(msg.header.frame_id, (p.x, p.y, p.z), self._look_config())
        now = self._now()
        self.look.set(gaze, now)
        self._looking = True
        self.diag.tick("look_at_targets")
        self._push_expression(now)

    def _follow_look(self) -> None:
        """Frame-rate timer: ease the head, and release the gaze once the target expired."""
        now = self._now()
        self._head = self.look.head(now)
        if self._looking and self.look.current(now) is None:
            self._looking = False
            self._push_expression(now)          # back to the commanded (idle) gaze

    # -- parameters ---------------------------------------------------------------
    def on_parameters_changed(self, changed: dict) -> None:
        if "look_at_timeout_s" in changed:
            self.look.timeout_s = changed["look_at_timeout_s"]
        if "jpeg_quality" in changed and self.compressed is not None:
            self.compressed.set_quality(changed["jpeg_quality"])
        if "portrait" in changed:
            self._change_portrait(changed["portrait"])

    def reject_change(self, name: str, value) -> str | None:
        """Decode the new portrait and find its face before the change is accepted."""
        if name != "portrait" or self.session is None:
            return None           # not running: the portrait is loaded (and checked) by configure/activate
        try:
            face = self.session.engine.prepare_face(load_image(value or asset("portrait.png")))
        except AvatarError as err:
            return f"portrait {value!r}: {err}"
        self._pending_face = (value, face)
        return None

    def _change_portrait(self, path: str) -> None:
        if self._loaded is not None:
            renderer, motion, _ = self._loaded
            self._loaded = (renderer, motion, load_image(path or asset("portrait.png")))
        if self._pending_face is not None and self.session is not None:
            _, face = self._pending_face
            self.session.engine.set_face(face)
        self._pending_face = None
        self.get_logger().info(f"portrait changed to {path or 'bundled example'}")

    # -- output -------------------------------------------------------------------
    def _publish_frames(self, session: LiveSession, stop: threading.Event) -> None:
        try:
            for out in session.frames():
                if stop.is_set():
                    break
                self._publish(out, session)
        except Exception as err:  # noqa: BLE001 - the engine died: report it, keep the node alive
            if stop.is_set():
                return
            self.diag.status(2, f"engine stopped: {type(err).__name__}: {err}")
            self.get_logger().error(f"engine stopped: {type(err).__name__}: {err}")

    def _publish(self, out, session: LiveSession) -> None:
        rgb = out.frame.rgb                      # (H, W, 3) uint8, not modified after this
        header = Header(stamp=to_stamp(out.stamp_s), frame_id=self.param("frame_id"))
        # Copying a frame into a message costs about a millisecond at 512x512: only for subscribers
        # (as image_transport publishers do; a late subscriber gets frames from when it matched).
        if self.image_pub.get_subscription_count():
            self.image_pub.publish(Image(header=header, height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8",
                                         is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.tobytes()))
        self.compressed.submit(header, rgb)      # encoded on its own thread: the raw frame is out already
        self.motion_pub.publish(FaceMotion(header=header, names=list(face_motion.NAMES),
                                           values=out.frame.motion.tolist()))
        self.diag.tick("frames")
        self.diag.sample("audio_to_frame_ms", out.latency_ms)
        if out.frame.degraded:
            self.diag.count("degraded_frames")
            self.diag.status(1, "behind the audio clock: degrading")
        if session.first_frame_ms is not None:
            self.diag.set("first_frame_ms", f"{session.first_frame_ms:.0f}")


def main(args=None):
    # Raw frames over 512 KiB need a larger Fast DDS shared-memory segment to reach best-effort
    # subscribers whole (docs/ROS.md, "Why reliable, and best-effort subscribers").
    use_large_message_transport()
    return run_node(FrameGenerator, args)


if __name__ == "__main__":
    sys.exit(main())

"""Where the face looks: a 3D target point -> gaze controls and a small head turn (ROS-free).

``/robot_face/look_at`` (geometry_msgs/PointStamped, ROS4HRI) names a point the face should
look at. It is accepted in two frames, because there is no tf2 in the PyPI wheels:

* the **face frame** (``face_frame``, default ``avatar_face``, the images' ``frame_id``):
  x toward the image's right, y up, z out of the screen toward the viewer, metres, with
  the eyes at the origin;
* one **camera frame** (``camera_frame``), related to the face frame by a static transform
  given as parameters: the camera's position in the face frame (``xyz``, metres) and its
  orientation (``rpy``, radians, fixed-axis roll-pitch-yaw as in URDF and
  ``static_transform_publisher``), so that ``p_face = R(rpy) @ p_camera + xyz``.

Anything else is refused with a reason (the node logs a throttled warning and drops it).

The direction to the target becomes two angles (yaw + toward the image's right, pitch + down,
the signs of ``gaze_x``/``gaze_y`` and of the face-motion vector's ``headYaw``/``headPitch``).
The eyes take the angle up to ``head_threshold_rad``; past it the head takes ``head_share`` of
the excess, up to ``head_limit_rad``, as people turn their heads only for far-off targets.
``gaze = eye angle / eye_range_rad``, clamped to -1..1 like the expression controls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.core import face_motion
from avatar.core.errors import InputError

FACE_FRAME = "avatar_face"
LOOK_AT_TIMEOUT_S = 5.0
# Eye angle at gaze +-1: the corpus' full iris offset reads as about 30 degrees to a viewer.
EYE_RANGE_RAD = math.radians(30.0)
HEAD_THRESHOLD_RAD = math.radians(15.0)
HEAD_SHARE = 0.5
HEAD_LIMIT_RAD = math.radians(10.0)    # within face_motion.HEAD_LIMIT_RAD, which a warp survives
HEAD_SMOOTHING_S = 0.25                # time constant of the head turn (the eyes jump: saccades)
MIN_DISTANCE_M = 0.05                  # a target at the eyes has no direction


@dataclass(frozen=True)
class StaticTransform:
    """The camera frame in the face frame: ``p_face = rotation @ p_camera + translation``."""
    rotation: np.ndarray       # (3, 3)
    translation: np.ndarray    # (3,)

    @classmethod
    def from_xyz_rpy(cls, xyz, rpy) -> "StaticTransform":
        if len(xyz) != 3 or len(rpy) != 3:
            raise InputError(f"a static transform needs 3 translations and 3 angles, not {len(xyz)} and {len(rpy)}")
        return cls(rotation_from_rpy(*rpy), np.asarray(xyz, np.float64))

    def apply(self, point: np.ndarray) -> np.ndarray:
        return self.rotation @ point + self.translation


def rotation_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """(3, 3) R = Rz(yaw) @ Ry(pitch) @ Rx(roll): fixed axes X, Y, Z, as URDF and tf2 use."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]], np.float64)


@dataclass(frozen=True)
class LookAtConfig:
    face_frame: str = FACE_FRAME
    camera_frame: str = ""                       # "" = only the face frame is accepted
    camera: StaticTransform | None = None
    eye_range_rad: float = EYE_RANGE_RAD
    head_threshold_rad: float = HEAD_THRESHOLD_RAD
    head_share: float = HEAD_SHARE
    head_limit_rad: float = HEAD_LIMIT_RAD


@dataclass(frozen=True)
class Gaze:
    """Where to look: gaze controls (-1..1, +x image right, +y down) and head angles (radians,
    + toward the image's right / chin down, the face-motion vector's headYaw/headPitch)."""
    gaze_x: float
    gaze_y: float
    head_yaw: float = 0.0
    head_pitch: float = 0.0


def target_in_face_frame(frame_id: str, point, config: LookAtConfig) -> np.ndarray:
    """(3,) the target in the face frame; InputError naming the reason when it cannot be used."""
    p = np.asarray(point, np.float64)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise InputError(f"look-at point {list(point)} is not three finite numbers")
    if frame_id == config.face_frame:
        return p
    if config.camera_frame and frame_id == config.camera_frame and config.camera is not None:
        return config.camera.apply(p)
    known = " or ".join(repr(f) for f in (config.face_frame, config.camera_frame) if f)
    raise InputError(f"look-at frame {frame_id!r} is unknown (no tf2 here): use {known}")


def _split(angle: float, config: LookAtConfig) -> tuple[float, float]:
    """(eye angle, head angle): the head takes a share of what lies past the threshold."""
    excess = max(0.0, abs(angle) - config.head_threshold_rad)
    head = math.copysign(min(config.head_limit_rad, config.head_share * excess), angle)
    return angle - head, head


def gaze_toward(target: np.ndarray, config: LookAtConfig) -> Gaze:
    """The gaze for a target (3,) in the face frame (metres, eyes at the origin)."""
    x, y, z = (float(v) for v in target)
    if math.sqrt(x * x + y * y + z * z) < MIN_DISTANCE_M:
        raise InputError(f"look-at target ({x:.3f}, {y:.3f}, {z:.3f}) m is at the eyes")
    # Targets behind the screen (z < 0) give angles past 90 degrees: the clamps below make the
    # face look as far sideways as it can, which is what a person would do before turning.
    yaw = math.atan2(x, z)
    pitch = math.atan2(-y, math.hypot(x, z))
    eye_yaw, head_yaw = _split(yaw, config)
    eye_pitch, head_pitch = _split(pitch, config)

    def control(angle: float) -> float:
        return max(-1.0, min(1.0, angle / config.eye_range_rad))

    return Gaze(control(eye_yaw), control(eye_pitch), head_yaw, head_pitch)


def resolve(frame_id: str, point, config: LookAtConfig) -> Gaze:
    """PointStamped fields -> Gaze; InputError with the reason to refuse it."""
    return gaze_toward(target_in_face_frame(frame_id, point, config), config)


class LookAtTracker:
    """The current look-at target: ``current(now)`` is its Gaze, or None once the last target is
    older than ``timeout_s`` (idle gaze behaviour resumes). ``head(now)`` is the head turn to
    render: the eyes jump to a new target at once (a saccade) while the head follows with a
    first-order lag of ``head_smoothing_s``, toward the target and back to straight ahead after
    the timeout. One caller (the node's executor thread) sets and reads it.
    """

    def __init__(self, timeout_s: float = LOOK_AT_TIMEOUT_S, head_smoothing_s: float = HEAD_SMOOTHING_S):
        self.timeout_s = timeout_s
        self.head_smoothing_s = head_smoothing_s
        self._target: Gaze | None = None
        self._since = -math.inf
        self._head = (0.0, 0.0)
        self._head_t: float | None = None

    def set(self, gaze: Gaze, now_s: float) -> None:
        self._target, self._since = gaze, now_s

    def clear(self) -> None:
        self._target, self._head, self._head_t = None, (0.0, 0.0), None

    def current(self, now_s: float) -> Gaze | None:
        if self._target is not None and now_s - self._since <= self.timeout_s:
            return self._target
        return None

    def head(self, now_s: float) -> tuple[float, float]:
        """(yaw, pitch) radians, eased toward the current target's head turn (or zero)."""
        target = self.current(now_s)
        goal = (target.head_yaw, target.head_pitch) if target is not None else (0.0, 0.0)
        dt = 0.0 if self._head_t is None else max(0.0, now_s - self._head_t)
        self._head_t = now_s
        keep = math.exp(-dt / self.head_smoothing_s) if self.head_smoothing_s > 0 else 0.0
        self._head = (goal[0] + (self._head[0] - goal[0]) * keep, goal[1] + (self._head[1] - goal[1]) * keep)
        return self._head


class WithHeadTurn:
    """A motion source (model_runtime.engine.motion_source.MotionSource) that adds the look-at
    head turn to every clip it generates. ``head()`` -> (yaw, pitch) radians is read once per clip
    on the engine's thread, so it must be cheap and thread-safe (a tuple attribute is)."""

    def __init__(self, source, head):
        self._source, self._head = source, head

    @property
    def audio_lookahead_ms(self) -> float:
        return self._source.audio_lookahead_ms

    @property
    def audio_context_frames(self) -> int:
        return self._source.audio_context_frames

    @property
    def motion_frames(self) -> int:
        return self._source.motion_frames

    def features(self, wave, n_frames: int):
        return self._source.features(wave, n_frames)

    def generate(self, tokens, states, expression, history, steps, generator) -> np.ndarray:
        motion = np.array(self._source.generate(tokens, states, expression, history, steps, generator),
                          np.float32)      # (n, face_motion.DIM)
        yaw, pitch = self._head()
        if yaw or pitch:
            motion[:, face_motion.INDEX["headYaw"]] += yaw
            motion[:, face_motion.INDEX["headPitch"]] += pitch
            motion = face_motion.clip(motion)
        return motion

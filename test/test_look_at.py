"""Look-at geometry (ROS-free): frames, angles, the head share, the timeout."""
import math

import numpy as np
import pytest

from avatar.core.errors import InputError
from avatar.core.look_at import (EYE_RANGE_RAD, HEAD_LIMIT_RAD, LookAtConfig, LookAtTracker, StaticTransform,
                                 resolve, rotation_from_rpy)

CONFIG = LookAtConfig()


def test_straight_ahead_is_neutral():
    g = resolve("avatar_face", (0.0, 0.0, 1.2), CONFIG)
    assert (g.gaze_x, g.gaze_y, g.head_yaw, g.head_pitch) == (0.0, 0.0, 0.0, 0.0)


def test_near_axis_targets_move_only_the_eyes_with_the_control_signs():
    right = resolve("avatar_face", (0.2, 0.0, 1.0), CONFIG)
    assert right.gaze_x == pytest.approx(math.atan2(0.2, 1.0) / EYE_RANGE_RAD)
    assert right.gaze_x > 0 and right.head_yaw == 0.0           # image's right is +gaze_x
    below = resolve("avatar_face", (0.0, -0.2, 1.0), CONFIG)
    assert below.gaze_y > 0 and below.head_pitch == 0.0          # below the eyes is +gaze_y (down)
    left_up = resolve("avatar_face", (-0.2, 0.2, 1.0), CONFIG)
    assert left_up.gaze_x < 0 and left_up.gaze_y < 0


def test_far_targets_turn_the_head_a_little_and_clamp_the_eyes():
    g = resolve("avatar_face", (2.0, 0.0, 0.5), CONFIG)        # 76 degrees to the right
    assert g.head_yaw == pytest.approx(HEAD_LIMIT_RAD)
    assert g.gaze_x == 1.0
    g = resolve("avatar_face", (0.0, -0.35, 1.0), CONFIG)      # 19 degrees down: past the threshold
    assert 0 < g.head_pitch < HEAD_LIMIT_RAD
    eye = math.atan2(0.35, 1.0) - g.head_pitch
    assert g.gaze_y == pytest.approx(eye / EYE_RANGE_RAD)
    behind = resolve("avatar_face", (0.1, 0.0, -1.0), CONFIG)  # behind the screen: as far as it goes
    assert behind.gaze_x == 1.0 and behind.head_yaw == pytest.approx(HEAD_LIMIT_RAD)


def test_rotation_from_rpy_matches_the_fixed_axis_convention():
    assert np.allclose(rotation_from_rpy(0, 0, math.pi / 2) @ [1, 0, 0], [0, 1, 0])   # yaw about z
    assert np.allclose(rotation_from_rpy(math.pi / 2, 0, 0) @ [0, 1, 0], [0, 0, 1])   # roll about x
    r = rotation_from_rpy(0.3, -0.2, 1.1)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)


def test_camera_frame_through_the_static_transform():
    # A REP-103 camera_link (x forward, y left, z up) 10 cm above the eyes, facing the viewer:
    # its forward is the face's +z, its left the face's +x (the subject's left = image's right).
    camera = StaticTransform.from_xyz_rpy((0.0, 0.1, 0.0), (-math.pi / 2, -math.pi / 2, 0.0))
    config = LookAtConfig(camera_frame="head_camera", camera=camera)
    assert np.allclose(camera.apply(np.array([1.0, 0.0, 0.0])), [0.0, 0.1, 1.0])
    on_axis = resolve("head_camera", (1.0, 0.0, -0.1), config)  # level with the eyes, straight ahead
    assert on_axis.gaze_x == pytest.approx(0.0, abs=1e-9) and on_axis.gaze_y == pytest.approx(0.0, abs=1e-9)
    to_left = resolve("head_camera", (1.0, 0.3, -0.1), config)  # camera's left = image's right
    assert to_left.gaze_x > 0.4
    # An optical frame (z forward, x right, y down as the camera sees it) facing the viewer is the
    # face frame turned half way round its z axis.
    optical = LookAtConfig(camera_frame="cam_optical", camera=StaticTransform.from_xyz_rpy((0, 0, 0), (0, 0, math.pi)))
    g = resolve("cam_optical", (0.2, 0.2, 1.0), optical)   # the camera's lower right
    assert g.gaze_x < 0 and g.gaze_y > 0                    # = the image's left, below the eyes


@pytest.mark.parametrize("frame, point, reason", [
    ("map", (0.0, 0.0, 1.0), "unknown"),
    ("", (0.0, 0.0, 1.0), "unknown"),
    ("avatar_face", (math.nan, 0.0, 1.0), "finite"),
    ("avatar_face", (0.0, 0.01, 0.01), "at the eyes"),
])
def test_unusable_targets_are_refused_with_a_reason(frame, point, reason):
    with pytest.raises(InputError, match=reason):
        resolve(frame, point, CONFIG)


def test_bad_transform_parameters_are_refused():
    with pytest.raises(InputError, match="3 translations"):
        StaticTransform.from_xyz_rpy((0.0, 0.1), (0.0, 0.0, 0.0))


def test_tracker_times_out_and_the_head_eases_back():
    tracker = LookAtTracker(timeout_s=2.0, head_smoothing_s=0.25)
    far = resolve("avatar_face", (2.0, 0.0, 0.5), CONFIG)
    assert tracker.current(0.0) is None and tracker.head(0.0) == (0.0, 0.0)
    tracker.set(far, 0.0)
    assert tracker.current(1.9) == far
    heads = [tracker.head(t)[0] for t in np.arange(0.04, 2.0, 0.04)]   # a 25 FPS caller
    assert all(b >= a for a, b in zip(heads, heads[1:])), "the head turns monotonically"
    assert heads[0] < 0.3 * far.head_yaw and heads[-1] == pytest.approx(far.head_yaw, rel=0.05)
    assert tracker.current(2.01) is None                     # the eyes go back to idle at once
    back = [tracker.head(t)[0] for t in np.arange(2.04, 4.0, 0.04)]
    assert back[0] > 0.5 * far.head_yaw and back[-1] == pytest.approx(0.0, abs=1e-3)
    tracker.set(far, 5.0)
    tracker.clear()
    assert tracker.current(5.1) is None and tracker.head(5.1) == (0.0, 0.0)


def test_head_turn_is_added_to_every_generated_clip():
    import torch

    from avatar.core import face_motion
    from avatar.core.expression import DIM, INDEX
    from avatar.core.look_at import WithHeadTurn
    from avatar.model_runtime.engine.motion_source import ExplicitMotion

    head = [(0.0, 0.0)]
    source = WithHeadTurn(ExplicitMotion(), lambda: head[0])
    expression = torch.zeros(1, 3, DIM)
    expression[..., INDEX["gaze_x"]] = 0.5
    still = source.generate(None, None, expression, None, 2, None)                    # (3, DIM)
    head[0] = (0.1, -0.05)
    turned = source.generate(None, None, expression, None, 2, None)
    yaw, pitch = face_motion.INDEX["headYaw"], face_motion.INDEX["headPitch"]
    assert np.allclose(turned[:, yaw] - still[:, yaw], 0.1) and np.allclose(turned[:, pitch] - still[:, pitch], -0.05)
    others = [i for i in range(face_motion.DIM) if i not in (yaw, pitch)]
    assert np.array_equal(turned[:, others], still[:, others])          # the gaze command is untouched
    assert source.motion_frames == 0 and source.features(None, 3) is None
    head[0] = (1.0, 0.0)                                                # far beyond what a warp survives
    assert source.generate(None, None, expression, None, 2, None)[:, yaw].max() == pytest.approx(
        face_motion.HEAD_LIMIT_RAD)

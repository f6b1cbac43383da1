"""The warp renderer on real photos, measured from outside by a fresh face-mesh pass.

Each control must move the landmarks mediapipe finds on the rendered crop in the direction
the face-motion vector's conventions (core/face_motion.py) say; a still face must come back
as the photo.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from portrait_cases import drawing, grace_hopper

from avatar.core import face_motion as fm
from avatar.core.errors import InputError
from avatar.model_runtime.portrait import FaceFinder, analyse_portrait
from avatar.model_runtime.renderers.base import ClipInputs, Renderer
from avatar.model_runtime.renderers.warp.eyes import fit_lids
from avatar.model_runtime.renderers.warp.renderer import WarpRenderer, face_landmarks
from avatar.model_runtime.renderers.warp.topology import landmark_loops, split_loop

SIZE = 512
PHOTOS = {"astronaut": skimage.data.astronaut, "grace_hopper": grace_hopper}


@pytest.fixture(scope="module")
def finder():
    with FaceFinder() as f:
        yield f


@pytest.fixture(scope="module")
def renderer():
    return WarpRenderer(SIZE)


@pytest.fixture(scope="module", params=sorted(PHOTOS))
def face(request, renderer, finder):
    """(aligned face, prepared, measures of the rendered neutral frame) for one photo."""
    aligned = analyse_portrait(PHOTOS[request.param]()).align(SIZE, renderer.framing)
    prepared = renderer.prepare(aligned.crop, aligned)
    neutral = renderer.render_frame(prepared, fm.neutral())
    return aligned, prepared, measure(finder, neutral, prepared)


def measure(finder: FaceFinder, image: np.ndarray, prepared) -> dict[str, float]:
    """Geometry of the face mediapipe finds on ``image`` (crop px)."""
    found = finder.find(image)
    assert found, "no face found on the rendered crop"
    lm = found[0]
    topo, loops = prepared.topo, landmark_loops()
    eyes = topo.eyes
    brows = np.concatenate([loops["brow_a"], loops["brow_b"]])
    corners = [topo.points[[c], 0] for c in (61, 291)]
    assert corners[0] < corners[1], "61 is the image-left mouth corner"
    eye_y = np.mean([lm[np.concatenate([e.upper, e.lower]), 1].mean() for e in eyes])
    return {
        "lip_gap": float((lm[topo.mouth.lower[1:-1], 1] - lm[topo.mouth.upper[1:-1], 1]).mean()),
        "corner_y": float(lm[[61, 291], 1].mean()),
        "mouth_width": float(np.linalg.norm(lm[61, :2] - lm[291, :2])),
        "lid_gap": float(np.mean([(lm[e.lower[1:-1], 1] - lm[e.upper[1:-1], 1]).mean() for e in eyes])),
        "brow_height": float(eye_y - lm[brows, 1].mean()),
        "iris_x": float(lm[[468, 473], 0].mean()),
        "nose_x": float(lm[1, 0]),
    }


def test_is_a_renderer(renderer):
    assert isinstance(renderer, Renderer)
    assert (renderer.name, renderer.size) == ("warp", SIZE)
    assert renderer.audio_lookahead_ms == 0 and renderer.audio_context_frames == 0
    assert renderer.features(None, 5) is None


def test_neutral_reproduces_the_crop(face, renderer):
    aligned, prepared, _ = face
    out = renderer.render_frame(prepared, fm.neutral())
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    assert cv2.PSNR(out, aligned.crop) > 40.0


CONTROLS = {
    # name: (motion, measure, sign, least change in crop px)
    "jawOpen": ({"jawOpen": 0.5}, "lip_gap", +1, 6.0),
    "mouthSmile": ({"mouthSmileLeft": 1, "mouthSmileRight": 1}, "corner_y", -1, 4.0),
    "eyeBlink": ({"eyeBlinkLeft": 1, "eyeBlinkRight": 1}, "lid_gap", -1, 2.0),
    "browInnerUp": ({"browInnerUp": 1}, "brow_height", +1, 1.5),
    "browOuterUp": ({"browOuterUpLeft": 1, "browOuterUpRight": 1}, "brow_height", +1, 1.5),
    "eyeLook": ({"eyeLookOutLeft": 1, "eyeLookInRight": 1}, "iris_x", +1, 2.5),
    "headYaw": ({"headYaw": 0.15}, "nose_x", +1, 8.0),
    "mouthPucker": ({"mouthPucker": 1}, "mouth_width", -1, 6.0),
    "mouthFunnel": ({"mouthFunnel": 1}, "mouth_width", -1, 4.0),
    "mouthStretch": ({"mouthStretchLeft": 1, "mouthStretchRight": 1}, "mouth_width", +1, 5.0),
}


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_control_moves_the_measured_landmarks(control, face, renderer, finder):
    _, prepared, before = face
    motion, key, sign, least = CONTROLS[control]
    after = measure(finder, renderer.render_frame(prepared, fm.vector(motion)), prepared)
    change = after[key] - before[key]
    assert sign * change > least, f"{control}: {key} changed by {change:+.2f} px"


def test_blink_closes_most_of_the_eye(face, renderer, finder):
    _, prepared, before = face
    closed = renderer.render_frame(prepared, fm.vector({"eyeBlinkLeft": 1, "eyeBlinkRight": 1}))
    after = measure(finder, closed, prepared)
    assert after["lid_gap"] < 0.6 * before["lid_gap"]


def test_gaze_moves_the_iris_not_the_face(face, renderer, finder):
    _, prepared, before = face
    looking = renderer.render_frame(prepared, fm.vector({"eyeLookInLeft": 1, "eyeLookOutRight": 1}))
    after = measure(finder, looking, prepared)
    assert after["iris_x"] - before["iris_x"] < -2.5
    assert abs(after["nose_x"] - before["nose_x"]) < 1.5


SPEECH_RANGE = [
    {"jawOpen": 0.7, "mouthFunnel": 0.3},
    {"mouthSmileLeft": 1, "mouthSmileRight": 1, "jawOpen": 0.3},
    {"mouthPucker": 1},
    {"mouthStretchLeft": 1, "mouthStretchRight": 1, "jawOpen": 0.2},
    {"mouthFrownLeft": 1, "mouthFrownRight": 1, "mouthClose": 0.5, "jawOpen": 0.5},
    {"browInnerUp": 1, "browOuterUpLeft": 1, "browOuterUpRight": 1},
    {"browDownLeft": 1, "browDownRight": 1},
    {"eyeBlinkLeft": 1, "eyeBlinkRight": 1, "eyeSquintLeft": 1, "eyeSquintRight": 1},
]


def signed_area(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


@pytest.mark.parametrize("motion", SPEECH_RANGE, ids=lambda m: "+".join(m))
def test_no_triangle_folds_over(motion, face, renderer):
    """A triangle turned inside out tears the picture; within the expression range none may
    (slivers under 10 px^2, e.g. a closed lid strip, do not show)."""
    _, prepared, _ = face
    tris = prepared.topo.triangles
    before = signed_area(prepared.topo.points[:, :2], tris)
    after = signed_area(renderer.vertices(prepared, fm.vector(motion)), tris)
    folded = (np.sign(before) != np.sign(after)) & (np.abs(before) > 10) & (np.abs(after) > 10)
    assert not folded.any(), f"folded triangles: {tris[folded].tolist()}"


def test_lids_are_fitted_to_a_drawn_eye_only(face):
    """A photo's mesh lids stay where mediapipe put them; a drawing's flat white sclera beyond
    the mesh's lids is taken into the eye opening (else it shows under a closed lid)."""
    aligned, _, _ = face
    lm = face_landmarks(aligned)
    assert np.array_equal(fit_lids(aligned.crop, lm), lm)
    drawn = analyse_portrait(drawing()).align(SIZE, WarpRenderer.framing)
    lm = face_landmarks(drawn)
    fitted = fit_lids(drawn.crop, lm)
    for eye in ("eye_a", "eye_b"):
        chains = split_loop(landmark_loops()[eye], lm[:, :2])
        opening = lambda p: float((p[chains.lower, 1] - p[chains.upper, 1]).max())  # noqa: E731
        assert opening(fitted) > 1.1 * opening(lm)


def test_decode_and_denoise(face, renderer):
    _, prepared, _ = face
    rng = np.random.default_rng(0)
    motion = rng.uniform(0, 0.6, (3, fm.DIM)).astype(np.float32)
    motion[:, [fm.INDEX[k] for k in fm.HEAD]] *= 0.2          # radians: a few degrees
    clip = ClipInputs(motion=motion, tokens=None, states=None, expression=None, steps=1, generator=None)
    out, carry = renderer.denoise(clip, prepared, None)
    assert carry is None
    frames = renderer.decode(out, prepared)
    assert frames.shape == (3, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[1], renderer.render_frame(prepared, motion[1]))


def test_prepare_is_deterministic(face, renderer):
    aligned, prepared, _ = face
    again = renderer.prepare(aligned.crop, aligned)
    assert np.array_equal(again.topo.points, prepared.topo.points)
    assert np.array_equal(again.rig.basis, prepared.rig.basis)
    motion = fm.vector({"jawOpen": 0.4, "mouthSmileLeft": 0.5, "eyeBlinkRight": 0.7, "headRoll": 0.05})
    assert np.array_equal(renderer.render_frame(again, motion), renderer.render_frame(prepared, motion))


def test_bad_input_is_refused(face, renderer):
    aligned, prepared, _ = face
    with pytest.raises(InputError):
        WarpRenderer(101)
    with pytest.raises(InputError):
        renderer.prepare(aligned.crop[:100], aligned)
    with pytest.raises(InputError):
        renderer.prepare(aligned.crop, np.zeros((10, 3), np.float32))
    with pytest.raises(InputError):
        renderer.decode(np.zeros((2, 3), np.float32), prepared)

"""Portrait analysis on real photos and made hard cases, with the real mediapipe face mesh."""
import logging

import cv2
import numpy as np
import pytest

from avatar.core.errors import InputError
from avatar.model_runtime.portrait import NO_FACE, FaceFinder, PortraitCache, analyse_portrait
from avatar.model_runtime.portrait.landmarks import FACE_OVAL, eye_centres, face_area
from avatar.model_runtime.renderers.base import Framing
from portrait_cases import FACE_CASES, HEAD_AT, HEAD_SCALE, NO_FACE_CASES, cases, group, tilted

cv2.setNumThreads(1)


@pytest.fixture(scope="module")
def all_cases():
    return cases()


@pytest.fixture(scope="module")
def astronaut(all_cases):
    return analyse_portrait(all_cases["astronaut"])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def face_pixels(lm: np.ndarray, shape) -> np.ndarray:
    """(H, W) bool: inside the face oval."""
    inside = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(lm[FACE_OVAL, :2]).astype(np.int32)], 1)
    return inside > 0


def eye_line_degrees(lm: np.ndarray) -> float:
    right, left = eye_centres(lm)
    return float(np.degrees(np.arctan2(*(left - right)[::-1])))


@pytest.fixture(scope="module")
def full_body(all_cases):
    return analyse_portrait(all_cases["full_body"])


# measured 40.4, 46.7, 50.6 dB; full_body's 512 crop is shrunk x7 on the way back (box-filtered x4 first): 40.6
@pytest.mark.parametrize("name, size, min_db", [("astronaut", 256, 37.0), ("astronaut", 384, 42.0),
                                                ("astronaut", 512, 45.0), ("full_body", 512, 38.0)])
def test_round_trip_keeps_outside_bytes_and_face(request, name, size, min_db):
    astronaut = request.getfixturevalue(name)
    aligned = astronaut.align(size)
    frames = astronaut.paste(aligned, np.stack([aligned.crop, aligned.crop]))
    assert frames.shape == (2, *astronaut.image.shape) and frames.dtype == np.uint8
    x0, y0, x1, y1 = aligned.region.box
    touched = np.zeros(astronaut.image.shape[:2], bool)
    touched[y0:y1, x0:x1] = aligned.region.alpha > 0
    for frame in frames:
        assert np.array_equal(frame[~touched], astronaut.image[~touched])
        face = face_pixels(astronaut.face, frame.shape)
        assert psnr(frame[face], astronaut.image[face]) > min_db
    assert touched.mean() < 0.5          # the paste touches the face region, not the frame


def test_mask_covers_the_face_and_fades_to_zero_at_the_border(astronaut):
    aligned = astronaut.align(384)
    mask = aligned.mask
    assert mask.shape == (384, 384) and mask.dtype == np.float32
    assert mask[0].max() == mask[-1].max() == mask[:, 0].max() == mask[:, -1].max() == 0.0
    oval = np.round(aligned.landmarks[FACE_OVAL, :2]).astype(int)
    assert mask[oval[:, 1], oval[:, 0]].min() > 0.95          # grown beyond the oval
    # room for jaw opening and head motion: the chin 12 % of the face height lower is still inside
    chin, forehead = aligned.landmarks[152, :2], aligned.landmarks[10, :2]
    low = np.round(chin + 0.12 * (chin - forehead)).astype(int)
    assert mask[low[1], low[0]] > 0.95
    assert 0.0 < mask.min() + 1e-9 and mask.max() == pytest.approx(1.0)


def test_single_crop_pastes_to_one_frame_and_changed_crops_show(astronaut):
    aligned = astronaut.align(256)
    dark = (aligned.crop // 2).astype(np.uint8)
    frame = astronaut.paste(aligned, dark)
    assert frame.shape == astronaut.image.shape
    face = face_pixels(astronaut.face, frame.shape)
    assert frame[face].mean() < 0.6 * astronaut.image[face].mean()


@pytest.mark.parametrize("name", FACE_CASES)
def test_face_cases_give_a_level_framed_crop(all_cases, name):
    """A second face-mesh pass on the crop finds the eye line level and the eyes where the framing puts them."""
    portrait = analyse_portrait(all_cases[name])
    h, w = portrait.image.shape[:2]
    assert max(h, w) <= 1024 and h % 2 == 0 and w % 2 == 0
    framing = Framing()
    aligned = portrait.align(512, framing)
    with FaceFinder() as finder:
        again = finder.find(aligned.crop)
    assert again, f"{name}: no face in its own crop"
    right, left = eye_centres(again[0])
    assert abs(eye_line_degrees(again[0])) < 1.5
    mid = (left + right) / 2
    assert abs(mid[0] - 256) < 0.03 * 512 and abs(mid[1] - framing.eye_height * 512) < 0.03 * 512
    assert np.linalg.norm(left - right) == pytest.approx(512 / framing.scale, rel=0.06)


def test_tilted_photo_is_levelled(astronaut):
    portrait = analyse_portrait(tilted(15.0))
    upright = eye_line_degrees(astronaut.face)           # the astronaut's own head roll (~3 deg)
    assert eye_line_degrees(portrait.face) == pytest.approx(upright - 15.0, abs=1.0)   # cv2 turns counter-clockwise
    assert eye_line_degrees(portrait.align(512).landmarks) == pytest.approx(0.0, abs=1e-6)


def test_largest_face_wins_in_a_group(caplog):
    photo = group()                      # Grace Hopper (larger) on the left, the astronaut on the right
    for image, hopper_left in ((photo, True), (np.ascontiguousarray(photo[:, ::-1]), False)):
        with caplog.at_level(logging.INFO, logger="avatar.model_runtime.portrait.analysis"):
            portrait = analyse_portrait(image)
        assert len(portrait.faces) == 2
        assert face_area(portrait.face) == max(face_area(f) for f in portrait.faces)
        centre_x = portrait.face[:, 0].mean()
        assert (centre_x < 512) if hopper_left else (centre_x > image.shape[1] - 512)
        assert "2 faces found; animating the largest" in caplog.text


def test_full_body_face_is_found_and_mapped_to_the_output_frame(all_cases, astronaut):
    image = all_cases["full_body"]          # (2400, 1600): the astronaut x HEAD_SCALE pasted at HEAD_AT
    portrait = analyse_portrait(image, max_side=1024)
    assert portrait.image.shape == (1024, 682, 3)
    expected = (astronaut.face[:, :2].mean(axis=0) * HEAD_SCALE + HEAD_AT) * 1024 / 2400
    assert np.linalg.norm(portrait.face[:, :2].mean(axis=0) - expected) < 2.0


@pytest.mark.parametrize("name", NO_FACE_CASES)
def test_no_face_is_one_clear_error(all_cases, name):
    with pytest.raises(InputError) as err:
        analyse_portrait(all_cases[name])
    assert str(err.value) == NO_FACE


@pytest.mark.parametrize("image, needle", [
    (np.zeros((8, 8, 3), np.uint8), "too small (8x8); need at least 16x16"),
    (np.zeros((64, 64), np.uint8), "must be an RGB uint8 image"),
    (np.zeros((64, 64, 3), np.float32), "must be an RGB uint8 image"),
])
def test_bad_images_are_one_clear_error(image, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        analyse_portrait(image)


def test_small_face_says_the_size_needed(all_cases):
    with pytest.raises(InputError, match=r"too small to animate: \d+ px between the eye centres, need at least 24 px"):
        analyse_portrait(all_cases["camera"])    # the cameraman's face is found, ~18 px between the eyes


def test_reanalysis_is_deterministic_and_stable_under_noise(all_cases, astronaut):
    again = analyse_portrait(all_cases["astronaut"])
    assert np.array_equal(again.face, astronaut.face)
    assert np.array_equal(again.align(512).crop, astronaut.align(512).crop)
    # the same photo re-noised or re-encoded moves the crop's corners (in portrait pixels) little
    photo = all_cases["astronaut"]
    copies = [np.clip(photo + np.random.default_rng(seed).normal(0, 2, photo.shape), 0, 255).astype(np.uint8)
              for seed in range(3)]
    jpeg = cv2.imencode(".jpg", photo[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    copies.append(np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1]))
    shifts = [corner_shift(astronaut.align(512).to_crop, analyse_portrait(c).align(512).to_crop, 512)
              for c in copies]
    assert np.mean(shifts) < 0.5 and max(shifts) < 0.75       # measured 0.1-0.46


def corner_shift(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """Largest distance, in portrait pixels, between the crop corners of two to_crop affines."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    inv_a, inv_b = cv2.invertAffineTransform(a), cv2.invertAffineTransform(b)
    return float(np.linalg.norm(corners @ (inv_a[:, :2] - inv_b[:, :2]).T + inv_a[:, 2] - inv_b[:, 2], axis=1).max())


def test_cache_analyses_each_image_once(all_cases):
    cache = PortraitCache(max_side=512, size=2)
    first = cache.get(all_cases["astronaut"])
    assert cache.get(all_cases["astronaut"].copy()) is first and cache.analyses == 1
    cache.get(all_cases["grace_hopper"])
    cache.get(all_cases["bundled"])                 # evicts the astronaut (least recently used)
    assert cache.get(all_cases["astronaut"]) is not first and cache.analyses == 4
    with pytest.raises(InputError):
        cache.get(all_cases["cat"])


def test_landmark_depth_sign_and_scale(astronaut):
    """z is mediapipe's (smaller toward the viewer) in pixels: the nose tip is in front of the ears
    by about half the face width, and the crop's landmarks scale z like x and y."""
    face = astronaut.face
    width = face[454, 0] - face[234, 0]
    assert face[1, 2] < 0 < min(face[234, 2], face[454, 2])
    assert 0.3 < (face[234, 2] - face[1, 2]) / width < 0.9
    aligned = astronaut.align(512)
    k = np.sqrt(abs(np.linalg.det(aligned.to_crop[:, :2])))
    assert np.allclose(aligned.landmarks[:, 2], face[:, 2] * k, rtol=1e-5, atol=1e-3)

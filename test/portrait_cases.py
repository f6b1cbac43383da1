"""Portraits for the portrait module's tests and the renderer's contact sheet: real photos
from installed packages and hard cases made from them (no downloads).

``cases()`` -> {name: (H, W, 3) uint8 RGB}. ``FACE_CASES`` / ``NO_FACE_CASES`` say what
each is expected to give. Made cases are deterministic (fixed seeds).
"""
from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

from avatar.core.image_io import load_image
from avatar.core.paths import asset
from avatar.model_runtime.portrait import FaceFinder
from avatar.model_runtime.portrait.landmarks import CHIN, FACE_OVAL, LIPS_INNER, LIPS_OUTER, NOSE_TIP, eye_centres

FACE_CASES = ("astronaut", "grace_hopper", "bundled", "group", "full_body", "turned", "mirrored", "tilted",
              "drawing", "glasses", "beard", "open_mouth")
NO_FACE_CASES = ("cat", "coffee", "noise")
HEAD_SCALE, HEAD_AT = 0.85, (582, 330)   # full_body: the astronaut photo's scale and top-left corner


def grace_hopper() -> np.ndarray:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))          # (600, 512, 3)


def scaled(img: np.ndarray, k: float) -> np.ndarray:
    size = (round(img.shape[1] * k), round(img.shape[0] * k))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)


def group() -> np.ndarray:
    """Grace Hopper at full size beside the astronaut at 0.8: two faces, Hopper's the larger."""
    big, small = grace_hopper(), scaled(data.astronaut(), 0.8)   # faces ~183 and ~74 px wide
    canvas = np.full((big.shape[0], big.shape[1] + small.shape[1] + 40, 3), (180, 175, 165), np.uint8)
    canvas[:, : big.shape[1]] = big
    top = big.shape[0] - small.shape[0] - 60
    canvas[top: top + small.shape[0], big.shape[1] + 40:] = small
    return canvas


def full_body() -> np.ndarray:
    """(2400, 1600) canvas: a drawn body and legs on a floor/wall backdrop, the astronaut's head
    and shoulders blended on top with its face ~80 px wide (about 3 % of the image height)."""
    rng = np.random.default_rng(1)
    h, w = 2400, 1600
    wall = np.linspace(200, 150, h, dtype=np.float32)[:, None, None] * np.array([1.0, 0.97, 0.9], np.float32)
    canvas = np.broadcast_to(wall, (h, w, 3)).copy()
    canvas[1900:] = (110, 95, 80)                                            # floor
    canvas += rng.normal(0, 4, canvas.shape).astype(np.float32)
    body = np.array([[660, 620], [940, 620], [1010, 1300], [590, 1300]], np.int32)  # torso
    cv2.fillPoly(canvas, [body], (40, 45, 70))
    cv2.fillPoly(canvas, [np.array([[600, 1290], [790, 1290], [760, 2050], [640, 2050]], np.int32)], (50, 50, 60))
    cv2.fillPoly(canvas, [np.array([[810, 1290], [1000, 1290], [960, 2050], [840, 2050]], np.int32)], (50, 50, 60))
    cv2.line(canvas, (670, 640), (540, 1250), (40, 45, 70), 70)              # arms
    cv2.line(canvas, (930, 640), (1060, 1250), (40, 45, 70), 70)
    head = scaled(data.astronaut(), HEAD_SCALE).astype(np.float32)          # (435, 435), face ~78 px
    alpha = np.zeros(head.shape[:2], np.float32)
    cv2.ellipse(alpha, (218, 190), (150, 190), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 12)[:, :, None]
    x, y = HEAD_AT
    region = canvas[y: y + head.shape[0], x: x + head.shape[1]]
    canvas[y: y + head.shape[0], x: x + head.shape[1]] = region + alpha * (head - region)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def turned(degrees: float = 30.0) -> np.ndarray:
    """Grace Hopper's head turned to her left: the head region remapped as if drawn on a vertical
    cylinder turned by ``degrees`` (features shift, the far cheek narrows). At 30 the nose tip sits
    at 0.73 of the cheek-to-cheek width (0.54 in the photo), about a 20 deg real turn."""
    img = grace_hopper()
    h, w = img.shape[:2]
    cx, cy, radius = 262.0, 235.0, 135.0                  # head centre and half-width in this photo
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    u = np.clip((x - cx) / radius, -1.0, 1.0)
    src = cx + radius * np.sin(np.arcsin(u) - np.radians(degrees))   # point on the cylinder seen at x
    # full effect over the head, fading to none by 1.6 head radii (shoulders and background stay)
    r = np.hypot((x - cx) / radius, (y - cy) / (1.35 * radius))
    weight = np.clip((1.6 - r) / 0.6, 0.0, 1.0)
    map_x = (x + weight * (src - x)).astype(np.float32)
    return cv2.remap(img, map_x, y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def tilted(degrees: float = 15.0) -> np.ndarray:
    img = data.astronaut()
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def drawing() -> np.ndarray:
    """A flat cv2 cartoon: hair, skin oval, eye whites and irises, brows, nose, lips."""
    img = np.full((512, 512, 3), (120, 170, 210), np.uint8)
    cv2.ellipse(img, (256, 230), (165, 190), 0, 180, 360, (70, 45, 30), -1)          # hair
    cv2.rectangle(img, (330, 380), (182, 512), (225, 185, 160), -1)                  # neck
    cv2.ellipse(img, (256, 270), (130, 165), 0, 0, 360, (235, 195, 170), -1)         # face
    for cx in (205, 307):
        cv2.ellipse(img, (cx, 250), (30, 16), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (cx, 250), 12, (70, 110, 60), -1)
        cv2.circle(img, (cx, 250), 5, (10, 10, 10), -1)
        cv2.ellipse(img, (cx, 250), (30, 16), 0, 180, 360, (40, 25, 20), 3)        # lash line
        cv2.ellipse(img, (cx, 212), (34, 9), 0, 180, 360, (60, 40, 25), 6)         # brow
    cv2.line(img, (256, 265), (246, 320), (190, 140, 120), 3)
    cv2.line(img, (246, 320), (262, 325), (190, 140, 120), 3)
    cv2.ellipse(img, (256, 365), (42, 12), 0, 0, 180, (180, 80, 80), -1)             # lower lip
    cv2.ellipse(img, (256, 363), (42, 8), 0, 180, 360, (170, 70, 75), -1)            # upper lip
    cv2.line(img, (214, 363), (298, 363), (110, 40, 40), 2)
    return cv2.GaussianBlur(img, (3, 3), 0)


def _landmarks(img: np.ndarray) -> np.ndarray:
    with FaceFinder() as finder:
        return finder.find(img)[0]


def glasses(img: np.ndarray | None = None) -> np.ndarray:
    """Dark-rimmed glasses with white lens highlights, drawn at the face mesh's eyes (astronaut;
    grace_hopper wears real ones)."""
    img = data.astronaut().copy() if img is None else img.copy()
    lm = _landmarks(img)
    right, left = eye_centres(lm)
    d = float(np.linalg.norm(left - right))
    rim = max(2, round(d * 0.06))
    for c in (right, left):
        centre = tuple(np.round(c + (0, d * 0.05)).astype(int))
        axes = (round(d * 0.42), round(d * 0.3))
        lens = img.copy()
        cv2.ellipse(lens, centre, axes, 0, 0, 360, (200, 215, 225), -1)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
        img[mask > 0] = (0.85 * img + 0.15 * lens)[mask > 0].astype(np.uint8)       # tinted lens
        cv2.ellipse(img, centre, axes, 0, 0, 360, (25, 20, 20), rim, cv2.LINE_AA)
        hx, hy = centre[0] - axes[0] // 2, centre[1] - axes[1] // 2
        cv2.line(img, (hx, hy + axes[1] // 3), (hx + axes[0] // 3, hy), (250, 250, 250), max(1, rim // 2), cv2.LINE_AA)
    bridge = [tuple(np.round(p).astype(int)) for p in (right + (d * 0.42, 0), left - (d * 0.42, 0))]
    cv2.line(img, *bridge, (25, 20, 20), rim, cv2.LINE_AA)
    return img


def beard(img: np.ndarray | None = None) -> np.ndarray:
    """A dark, textured full beard and moustache: the face oval below the nose, lips left bare."""
    img = data.astronaut().copy() if img is None else img.copy()
    lm = _landmarks(img)
    oval = lm[FACE_OVAL, :2]
    below = oval[oval[:, 1] > lm[NOSE_TIP, 1] - 0.1 * (lm[CHIN, 1] - lm[NOSE_TIP, 1])]
    centre = below.mean(axis=0)
    below = below[np.argsort(np.arctan2(below[:, 1] - centre[1], below[:, 0] - centre[0]))]
    mask = np.zeros(img.shape[:2], np.float32)
    cv2.fillPoly(mask, [np.round(below).astype(np.int32)], 1.0)
    cv2.fillPoly(mask, [np.round(lm[LIPS_OUTER, :2]).astype(np.int32)], 0.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)[:, :, None]
    rng = np.random.default_rng(2)
    strands = cv2.GaussianBlur(rng.normal(0, 1, img.shape[:2]).astype(np.float32), (0, 0), 0.6)
    colour = np.array([50, 35, 25], np.float32) + 40 * strands[:, :, None]
    return np.clip(img + 0.92 * mask * (colour - img), 0, 255).astype(np.uint8)


def open_mouth(img: np.ndarray | None = None, opening: float = 0.35) -> np.ndarray:
    """The astronaut with her mouth open: the lower lip and chin drop (fading out below the chin)
    and the gap becomes a dark cavity with a tongue; her upper teeth stay on the upper lip. The
    face mesh measures the inner-lip gap at 0.38 of the mouth width (0.18 in the photo)."""
    img = data.astronaut() if img is None else img
    lm = _landmarks(img)
    h, w = img.shape[:2]
    (x0, _), (x1, _) = lm[78, :2], lm[308, :2]                 # inner mouth corners
    half, cx = (x1 - x0) / 2, (x0 + x1) / 2
    xs = np.arange(w, dtype=np.float32)
    corner = int(np.flatnonzero(LIPS_INNER == 308)[0])
    one, other = lm[LIPS_INNER[: corner + 1], :2], lm[np.append(LIPS_INNER[corner:], 78), :2]
    upper, lower = (one, other) if one[:, 1].mean() < other[:, 1].mean() else (other, one)
    upper, lower = upper[np.argsort(upper[:, 0])], lower[np.argsort(lower[:, 0])]   # for np.interp
    meet = np.interp(xs, upper[:, 0], (upper[:, 1] + np.interp(upper[:, 0], lower[:, 0], lower[:, 1])) / 2)
    u = (xs - cx) / half
    profile = np.clip(1 - u ** 2, 0, 1) ** 0.7                  # (w,) the opening, 0 at the corners
    below = np.arange(h, dtype=np.float32)[:, None] - meet[None, :]                  # (h, w)
    fade = np.clip(1 - below / (1.6 * (lm[CHIN, 1] - meet.min())), 0, 1)
    drop = opening * 2 * half * profile[None, :] * np.where(below >= 0, fade, 0)     # (h, w) pixels
    map_x = np.broadcast_to(xs[None, :], (h, w)).astype(np.float32)
    map_y = (np.arange(h, dtype=np.float32)[:, None] - drop).astype(np.float32)
    out = cv2.remap(img, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    gap = (below >= 0) & (below < drop)
    depth = np.where(gap, below / np.maximum(drop, 1e-3), 0)[:, :, None]
    cavity = np.float32([110, 40, 35]) * (1 - depth) + np.float32([45, 15, 12]) * depth
    tongue = np.clip((depth - 0.6) / 0.4, 0, 1) * np.clip(1 - 1.3 * np.abs(u), 0, 1)[None, :, None]
    cavity = cavity * (1 - tongue) + np.float32([170, 80, 80]) * tongue
    soft = cv2.GaussianBlur(gap.astype(np.float32), (0, 0), 0.8)[:, :, None]
    return np.clip(out + soft * (cavity - out), 0, 255).astype(np.uint8)


def cases() -> dict[str, np.ndarray]:
    """name -> (H, W, 3) uint8 RGB: every case above, the real photos and the no-face images."""
    rng = np.random.default_rng(3)
    return {
        "astronaut": data.astronaut(),
        "grace_hopper": grace_hopper(),
        "camera": np.repeat(data.camera()[:, :, None], 3, axis=2),
        "bundled": load_image(asset("portrait.png")),
        "group": group(),
        "full_body": full_body(),
        "turned": turned(),
        "mirrored": np.ascontiguousarray(data.astronaut()[:, ::-1]),
        "tilted": tilted(),
        "drawing": drawing(),
        "glasses": glasses(),
        "beard": beard(),
        "open_mouth": open_mouth(),
        "cat": data.chelsea(),
        "coffee": data.coffee(),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "tiny": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
    }

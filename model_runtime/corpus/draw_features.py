"""Moving facial features, drawn every frame on top of the warped head layer.

All shapes are built in head-local coordinates from ``FaceState`` and placed
with ``Placement.at`` (head pose plus a depth-dependent parallax). Skin-coloured
details take the baked lighting at their location (``Tones``) so they match
the head layer underneath.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import paint
from .geometry import Geometry, apply, feature_offset
from .identity import Identity

SCLERA = (236, 232, 226)
MOUTH_DARK = (70, 22, 28)
TEETH = (236, 232, 222)
TONGUE = (170, 72, 82)
DEPTH = {"eyes": 0.6, "brows": 0.55, "nose": 1.0, "mouth": 0.75}


@dataclass
class FaceState:
    """Everything that moves in one frame (GT definitions in docs/CORPUS.md)."""
    aperture: float = 0.0     # inner lip opening, 0 closed .. 1 wide
    width: float = 1.0        # mouth width relative to neutral
    rounding: float = 0.0     # lip rounding / protrusion 0..1
    smile: float = 0.0
    frown: float = 0.0
    brow_raise: float = 0.0
    brow_furrow: float = 0.0
    lid: float = 1.0          # upper-lid opening: 0 closed, 1 neutral, 1.5 wide
    squint: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    yaw: float = 0.0          # degrees
    pitch: float = 0.0
    roll: float = 0.0
    breathe: float = 0.0      # vertical head offset, px on the 256 canvas


@dataclass
class Tones:
    """Skin colour under the baked lighting near each feature."""
    eyes: tuple
    nose: tuple
    mouth: tuple
    shadow_side: int          # +1: shadows fall on the image right


@dataclass
class Placement:
    g: Geometry
    m: np.ndarray             # (2, 3) head pose
    yaw: float
    pitch: float

    def at(self, pts: np.ndarray, depth: float) -> np.ndarray:
        return apply(self.m, np.asarray(pts, np.float64) +
                     feature_offset(self.g, self.yaw, self.pitch, depth))


def _u(n: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n)


# ---------------------------------------------------------------- eyes
def draw_eyes(img, g: Geometry, ident: Identity, st: FaceState, pl: Placement, tones: Tones):
    u = _u(21)
    squint = min(1.0, st.squint + 0.35 * st.smile)
    lid = max(0.0, st.lid * (1.0 - 0.25 * squint))
    for side in (-1, 1):
        ex, ey = g.cx + side * g.eye_dx, g.eye_y
        x = ex + u * g.eye_w
        tilt = -g.eye_tilt * g.eye_h * u * side
        upper_y = ey + tilt - g.eye_h * lid * (1 - u ** 2) ** 0.75
        lower_y = ey + tilt + g.eye_h * 0.7 * (1 - u ** 2) ** 0.8 * (1 - 0.55 * squint)
        upper = pl.at(np.stack([x, upper_y], 1), DEPTH["eyes"])
        lower = pl.at(np.stack([x, lower_y], 1), DEPTH["eyes"])
        if lid > 0.06:
            iris_c = (ex + st.gaze_x * 0.42 * g.eye_w, ey + st.gaze_y * 0.3 * g.eye_h)
            _eyeball(img, np.vstack([upper, lower[::-1]]), pl.at([iris_c], DEPTH["eyes"])[0],
                     g, ident)
        crease = pl.at(np.stack([x, upper_y - 0.45 * g.eye_h - 0.1 * g.eye_h * (1 - u ** 2)], 1),
                       DEPTH["eyes"])
        paint.line(img, crease[3:-3], paint.shade(tones.eyes, 0.8), 1.0 * g.k)
        paint.line(img, lower[2:-2], paint.shade(tones.eyes, 0.85), 1.0 * g.k)
        paint.line(img, upper, (40, 28, 26), 1.6 * g.k)


def _eyeball(img, almond: np.ndarray, iris_c: np.ndarray, g: Geometry, ident: Identity) -> None:
    """Sclera, iris and pupil, clipped to the lid opening through an ROI mask."""
    x0, y0 = np.floor(almond.min(0)).astype(int) - 2
    x1, y1 = np.ceil(almond.max(0)).astype(int) + 2
    w, h = x1 - x0, y1 - y0
    buf = np.empty((h, w, 3), np.uint8)
    buf[...] = SCLERA
    c = iris_c - (x0, y0)
    r = g.iris_r
    paint.circle(buf, c, r, paint.shade(ident.iris, 0.7))
    paint.circle(buf, c, 0.8 * r, ident.iris)
    paint.circle(buf, c, 0.42 * r, (18, 14, 14))
    paint.circle(buf, c + (-0.35 * r, -0.35 * r), 0.16 * r, (250, 250, 250))
    mask = np.zeros((h, w), np.uint8)
    paint.fill(mask, almond - (x0, y0), 255)
    paint.blend_roi(img, buf, mask, x0, y0)


# ---------------------------------------------------------------- brows
def draw_brows(img, g: Geometry, ident: Identity, st: FaceState, pl: Placement, tones: Tones):
    t = np.linspace(0.0, 1.0, 16)                      # 0 inner end .. 1 outer end
    colour = paint.mix(ident.hair, (22, 16, 12), 0.35)
    peak = g.brow_peak
    bump = 1 - ((t - peak) / np.where(t < peak, peak, 1 - peak)) ** 2
    for side in (-1, 1):
        ex = g.cx + side * g.eye_dx
        x = ex + side * (-0.9 + 2.15 * t) * g.eye_w - side * st.brow_furrow * 0.18 * g.eye_w * (1 - t)
        y = (g.eye_y - g.brow_gap - g.brow_arch * np.clip(bump, 0, 1)
             - st.brow_raise * 0.55 * g.eye_w * (1.0 + 0.35 * (1 - t))
             + st.brow_furrow * (0.12 + 0.4 * (1 - t) ** 1.5) * g.eye_w)
        half = 0.5 * g.brow_thick * (0.65 + 0.6 * (1 - t))
        top = pl.at(np.stack([x, y - half], 1), DEPTH["brows"])
        bottom = pl.at(np.stack([x, y + half], 1), DEPTH["brows"])
        paint.fill(img, np.vstack([top, bottom[::-1]]), colour)
    if st.brow_furrow > 0.05:
        wrinkle = paint.mix(tones.eyes, paint.shade(tones.eyes, 0.7), min(1.0, st.brow_furrow))
        for side in (-1, 1):
            x = g.cx + side * 0.12 * g.eye_w
            pts = np.array([[x, g.eye_y - g.brow_gap - 0.5 * g.eye_w], [x - side * 0.1 * g.eye_w,
                            g.eye_y - g.brow_gap + 0.4 * g.eye_w]])
            paint.line(img, pl.at(pts, DEPTH["brows"]), wrinkle, 1.0 * g.k)
    if st.brow_raise > 0.05:
        wrinkle = paint.mix(tones.eyes, paint.shade(tones.eyes, 0.8), min(1.0, st.brow_raise))
        for i in (1, 2):
            y0 = g.eye_y - g.brow_gap - (0.45 + 0.35 * i) * g.eye_w - 0.5 * st.brow_raise * g.eye_w
            pts = np.stack([g.cx + _u(12) * 0.8 * g.eye_dx, y0 + 0.1 * g.eye_w * _u(12) ** 2], 1)
            paint.line(img, pl.at(pts, DEPTH["brows"]), wrinkle, 1.0 * g.k)


# ---------------------------------------------------------------- nose
def draw_nose(img, g: Geometry, st: FaceState, pl: Placement, tones: Tones) -> None:
    nw, ny, s = g.nose_w, g.nose_y, tones.shadow_side
    dark, mid = paint.shade(tones.nose, 0.55), paint.shade(tones.nose, 0.8)
    for side in (-1, 1):
        c = (g.cx + side * 0.42 * nw, ny + 0.03 * g.b)
        paint.fill(img, pl.at(paint.ellipse_pts(c, (0.2 * nw, 0.1 * nw), side * 15, 16), 1.0), dark)
        wing = np.stack([g.cx + side * (0.55 + 0.25 * np.cos(np.linspace(-1.2, 1.6, 10))) * nw,
                         ny + 0.03 * g.b - 0.3 * nw * np.sin(np.linspace(-1.2, 1.6, 10))], 1)
        paint.line(img, pl.at(wing, 1.0), mid, 1.0 * g.k)
    bridge = np.array([[g.cx + s * 0.3 * nw, g.eye_y + 0.08 * g.b],
                       [g.cx + s * 0.42 * nw, ny - 0.1 * g.b], [g.cx + s * 0.6 * nw, ny - 0.02 * g.b]])
    paint.line(img, pl.at(bridge, 1.0), paint.shade(tones.nose, 0.88), 1.2 * g.k)
    tip = paint.ellipse_pts((g.cx - 0.1 * s * nw, ny - 0.06 * g.b), (0.22 * nw, 0.14 * nw), 0, 16)
    paint.fill(img, pl.at(tip, 1.0), paint.shade(tones.nose, 1.08))


# ---------------------------------------------------------------- mouth
def lip_curves(g: Geometry, st: FaceState, n: int = 25) -> dict[str, np.ndarray]:
    """Head-local mouth curves (n, 2): inner/outer edges of both lips."""
    u = _u(n)
    hw = g.mouth_w * st.width * (1 + 0.16 * st.smile - 0.04 * st.frown)
    lift = (0.5 * st.smile - 0.42 * st.frown) * 0.5 * g.mouth_w
    base = g.mouth_y - lift * u ** 2 + 0.1 * lift
    gap = st.aperture * g.max_gap
    p = 0.8 - 0.35 * st.rounding
    shape = (1 - u ** 2) ** p
    up_i = base - gap * 0.28 * shape
    low_i = base + gap * 0.72 * shape
    t_up = g.lip_up * (1 + 0.35 * st.rounding - 0.2 * st.smile)
    t_low = g.lip_low * (1 + 0.35 * st.rounding - 0.15 * st.smile)
    bow = 1 - 0.3 * np.exp(-(u / 0.18) ** 2)
    up_o = up_i - t_up * (1 - u ** 2) ** 0.5 * bow
    low_o = low_i + t_low * (1 - u ** 2) ** 0.55
    x = g.cx + u * hw
    return {k: np.stack([x, y], 1) for k, y in
            (("up_i", up_i), ("low_i", low_i), ("up_o", up_o), ("low_o", low_o))}


def draw_mouth(img, g: Geometry, ident: Identity, st: FaceState, pl: Placement, tones: Tones):
    lc = lip_curves(g, st)
    at = lambda p: pl.at(p, DEPTH["mouth"])  # noqa: E731
    if st.aperture * g.max_gap > 0.4:
        paint.fill(img, at(np.vstack([lc["up_i"], lc["low_i"][::-1]])), MOUTH_DARK)
        _teeth_and_tongue(img, g, lc, at)
    if st.smile > 0.15:  # nasolabial folds deepen with the smile
        fold = paint.mix(tones.mouth, paint.shade(tones.mouth, 0.8), min(1.0, st.smile - 0.15))
        for side in (-1, 1):
            corner = lc["up_i"][0 if side < 0 else -1]
            v = np.linspace(0.0, 1.0, 8)[:, None]
            start = np.array([g.cx + side * 1.0 * g.nose_w, g.nose_y + 0.04 * g.b])
            end = corner + (side * 0.2 * g.mouth_w, 0.05 * g.mouth_w)
            bulge = np.array([side * 0.18 * g.mouth_w, 0.0]) * np.sin(np.pi * v)
            paint.line(img, at(start + (end - start) * v + bulge), fold, 1.0 * g.k)
    lips = ident.lips
    paint.fill(img, at(np.vstack([lc["up_o"], lc["up_i"][::-1]])), paint.shade(lips, 0.88))
    paint.fill(img, at(np.vstack([lc["low_i"], lc["low_o"][::-1]])), lips)
    shine = lc["low_i"][8:-8] + (0, 0.45 * g.lip_low)
    paint.line(img, at(shine), paint.shade(lips, 1.15), 1.0 * g.k)
    paint.line(img, at(lc["up_i"]), paint.shade(lips, 0.45), 1.0 * g.k)
    if ident.facial_hair in ("moustache", "full"):
        _moustache(img, g, ident, lc, at)


def _teeth_and_tongue(img, g: Geometry, lc: dict, at) -> None:
    up, low = lc["up_i"][:, 1], lc["low_i"][:, 1]
    x = lc["up_i"][:, 0]
    sl = slice(5, -5)                                   # teeth stop short of the corners
    t_bottom = np.minimum(up + 0.2 * g.mouth_w, low)
    paint.fill(img, at(np.vstack([np.stack([x[sl], up[sl]], 1),
                                  np.stack([x[sl], t_bottom[sl]], 1)[::-1]])), TEETH)
    tongue_top = np.maximum(low - 0.35 * (low - up), t_bottom)
    sl = slice(6, -6)
    paint.fill(img, at(np.vstack([np.stack([x[sl], tongue_top[sl]], 1),
                                  np.stack([x[sl], low[sl]], 1)[::-1]])), TONGUE)


def _moustache(img, g: Geometry, ident: Identity, lc: dict, at) -> None:
    u = _u(lc["up_o"].shape[0])
    bottom = lc["up_o"].copy()
    bottom[:, 0] = g.cx + (bottom[:, 0] - g.cx) * 1.12
    bottom[:, 1] += 0.25 * g.lip_up * np.abs(u) ** 3 - 0.5
    top = bottom.copy()
    top[:, 1] -= 0.22 * g.mouth_w * (1 - 0.5 * u ** 2)
    paint.fill(img, at(np.vstack([top, bottom[::-1]])), paint.shade(ident.hair, 0.85))


# ---------------------------------------------------------------- glasses
def draw_glasses(img, g: Geometry, ident: Identity, pl: Placement) -> None:
    if ident.glasses == "none":
        return
    colour, th = ident.glasses_colour, 1.7 * g.k
    inner_edges = []
    for side in (-1, 1):
        c = (g.cx + side * g.eye_dx, g.eye_y + 0.05 * g.eye_h)
        if ident.glasses == "round":
            rim = paint.ellipse_pts(c, (1.45 * g.eye_w, 1.35 * g.eye_w), 0, 40)
        else:
            th_ = np.linspace(0, 2 * np.pi, 40, endpoint=False)
            cs, sn = np.cos(th_), np.sin(th_)
            rim = np.stack([c[0] + 1.55 * g.eye_w * np.sign(cs) * np.abs(cs) ** 0.4,
                            c[1] + 1.15 * g.eye_w * np.sign(sn) * np.abs(sn) ** 0.4], 1)
        paint.line(img, pl.at(rim, DEPTH["eyes"]), colour, th, closed=True)
        inner_edges.append(rim[np.argmin(side * rim[:, 0])])
        hinge = rim[np.argmax(side * rim[:, 0])]
        ear = (g.cx + side * 0.98 * g.a, g.eye_y + 0.05 * g.b)
        arm = np.vstack([pl.at([hinge], DEPTH["eyes"]), pl.at([ear], 0.0)])
        paint.line(img, arm, colour, th)
    (lx, ly), (rx, ry) = inner_edges
    bridge = np.array([[lx, ly], [g.cx, min(ly, ry) - 0.25 * g.eye_w], [rx, ry]])
    paint.line(img, pl.at(bridge, DEPTH["eyes"]), colour, th)


def warp_layer(layer: np.ndarray, m: np.ndarray) -> np.ndarray:
    """RGBA head layer moved by the pose; bilinear so slow motion stays smooth."""
    s = layer.shape[0]
    return cv2.warpAffine(layer, m, (s, s), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))

"""Face geometry in head-local pixel coordinates (the head at rest pose).

Proportions are defined on a 256 px canvas and scaled, so every size renders
the same face. The head (hair top to chin) fills about 60% of the frame height
and is centred.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .identity import Identity

_FACE_BASE = {"oval": (50.0, 64.0, 2.0, 0.35), "round": (55.0, 60.0, 2.0, 0.18),
              "long": (46.0, 70.0, 2.1, 0.35), "square": (53.0, 63.0, 2.9, 0.12)}
_EYE_SHAPE = {"almond": (0.42, 0.08), "round": (0.56, 0.0), "narrow": (0.32, 0.12)}  # (h/w, tilt)
_BROW_THICK = {"thin": 0.13, "medium": 0.2, "thick": 0.3}
_BROW_ARCH = {"straight": (0.08, 0.5), "arched": (0.32, 0.55), "angled": (0.3, 0.72)}
_NOSE = {"small": (0.15, 0.26), "straight": (0.18, 0.30), "wide": (0.25, 0.30), "long": (0.18, 0.36)}
_LIP_THICK = {"thin": (0.13, 0.19), "medium": (0.18, 0.26), "full": (0.25, 0.34)}


@dataclass
class Geometry:
    size: int
    k: float                 # pixels per 256-canvas unit
    cx: float
    cy: float
    a: float                 # face half-width
    b: float                 # face half-height
    exponent: float          # superellipse exponent (square jaw > 2)
    taper: float             # chin narrowing
    eye_y: float
    eye_dx: float            # eye centre offset from cx
    eye_w: float             # eye half-width
    eye_h: float             # eye half-height at neutral opening
    eye_tilt: float          # outer corner lift, fraction of eye_h
    iris_r: float
    brow_gap: float          # brow base above the eye centre
    brow_thick: float
    brow_arch: float
    brow_peak: float         # where along the brow the arch peaks (0 inner, 1 outer)
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float           # half-width at neutral
    lip_up: float
    lip_low: float
    max_gap: float           # inner lip opening at aperture 1
    hairline_y: float
    pivot: tuple[float, float]


def make_geometry(ident: Identity, size: int) -> Geometry:
    k = size / 256.0
    a0, b0, exponent, taper = _FACE_BASE[ident.face_shape]
    a = a0 * (1 + 0.06 * ident.face_w) * k
    b = b0 * (1 + 0.05 * ident.face_h) * k
    cx, cy = size / 2.0, size / 2.0 + 0.1 * b
    eye_w = 0.21 * a
    h_ratio, tilt = _EYE_SHAPE[ident.eye_shape]
    nose_w, nose_len = _NOSE[ident.nose]
    lip_up, lip_low = _LIP_THICK[ident.lip_thickness]
    mouth_w = a * (0.40 + 0.03 * ident.mouth_width)
    arch, peak = _BROW_ARCH[ident.brow_shape]
    return Geometry(
        size=size, k=k, cx=cx, cy=cy, a=a, b=b, exponent=exponent, taper=taper,
        eye_y=cy - 0.06 * b + 0.03 * b * ident.eye_height,
        eye_dx=a * (0.40 + 0.04 * ident.eye_spacing),
        eye_w=eye_w, eye_h=h_ratio * eye_w, eye_tilt=tilt, iris_r=0.47 * eye_w,
        brow_gap=eye_w * (1.0 + 0.15 * ident.brow_height),
        brow_thick=_BROW_THICK[ident.brow_thickness] * eye_w,
        brow_arch=arch * eye_w, brow_peak=peak,
        nose_y=cy + nose_len * b * (1 + 0.1 * ident.nose_length), nose_w=nose_w * a,
        mouth_y=cy + 0.58 * b, mouth_w=mouth_w,
        lip_up=lip_up * mouth_w, lip_low=lip_low * mouth_w, max_gap=1.05 * mouth_w,
        hairline_y=cy - 0.62 * b,
        pivot=(cx, cy + 0.9 * b),
    )


def face_outline(g: Geometry, n: int = 96, grow: float = 0.0) -> np.ndarray:
    """Closed face contour (n, 2): a superellipse whose lower half narrows to the chin."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    e = 2.0 / g.exponent
    x = (g.a + grow) * np.sign(c) * np.abs(c) ** e
    y = (g.b + grow) * np.sign(s) * np.abs(s) ** e
    lower = np.clip(y / g.b, 0, None)
    x = x * (1 - g.taper * lower ** 2)
    return np.stack([g.cx + x, g.cy + y], axis=1)


def arc(x0: float, x1: float, y_of: callable, n: int = 24) -> np.ndarray:
    """Points (n, 2) along x0..x1 with y = y_of(u), u in [-1, 1]."""
    u = np.linspace(-1.0, 1.0, n)
    return np.stack([x0 + (u + 1) * 0.5 * (x1 - x0), y_of(u)], axis=1)


def pose_matrix(g: Geometry, yaw: float, pitch: float, roll: float,
                breathe: float = 0.0) -> np.ndarray:
    """2x3 affine for the whole head: roll about the neck pivot plus a small shift.

    Degrees in, pixels out. Yaw and pitch move the head a little; the features
    move further on top (``feature_offset``), which reads as a turn in 2D.
    """
    px, py = g.pivot
    r = np.deg2rad(roll)
    c, s = np.cos(r), np.sin(r)
    dx = 0.25 * g.k * yaw
    dy = 0.25 * g.k * pitch + breathe * g.k
    return np.array([[c, -s, px - c * px + s * py + dx],
                     [s, c, py - s * px - c * py + dy]], np.float64)


def feature_offset(g: Geometry, yaw: float, pitch: float, depth: float) -> np.ndarray:
    """Parallax of a feature at relative ``depth`` (nose 1, eyes 0.6) for yaw/pitch in degrees."""
    return np.array([0.45 * g.k * yaw * depth, 0.35 * g.k * pitch * depth])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Affine ``m`` (2, 3) applied to points (N, 2)."""
    return pts @ m[:, :2].T + m[:, 2]

"""Parts of a portrait that are drawn once per identity.

The background and body stay put; the head layer (hair, ears, face, beard,
with lighting baked in) is RGBA and is warped by the head pose every frame.
"""
from __future__ import annotations

import numpy as np

from . import paint
from .geometry import Geometry, arc, face_outline
from .identity import Identity

_LIGHT_DIR = {"front": (0.0, -0.25, 1.0), "left": (-0.75, -0.3, 0.6), "right": (0.75, -0.3, 0.6),
              "top_left": (-0.5, -0.65, 0.6), "top_right": (0.5, -0.65, 0.6)}


def background(ident: Identity, size: int) -> np.ndarray:
    """(S, S, 3) uint8: a soft studio backdrop in one of eight styles."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    style = ident.background
    if style == "flat":
        t = np.zeros_like(x)
    elif style == "vertical":
        t = y
    elif style == "horizontal":
        t = x
    elif style == "radial":
        t = np.clip(np.hypot(x - 0.5, y - 0.45) * 1.6, 0, 1)
    elif style == "diagonal":
        t = (x + y) * 0.5
    elif style == "split":
        t = 1.0 / (1.0 + np.exp(-(x - 0.62) * 40.0))
    elif style == "blobs":
        t = 0.5 + 0.5 * np.sin(5.0 * x + 1.3) * np.cos(4.0 * y - 0.7)
    else:  # stripes, soft
        t = 0.5 + 0.5 * np.sin((x * 0.8 + y * 0.3) * 18.0)
        t = 0.35 + 0.3 * t
    a, b = np.asarray(ident.bg_a, np.float32), np.asarray(ident.bg_b, np.float32)
    img = a * (1 - t[..., None]) + b * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_body(img: np.ndarray, ident: Identity, g: Geometry) -> None:
    """Neck and shoulders, in place: they do not move with the head."""
    s, cx, a, b = g.size, g.cx, g.a, g.b
    neck_top, shoulder_y = g.cy + 0.45 * b, g.cy + 1.28 * b
    neck = np.array([[cx - 0.5 * a, neck_top], [cx + 0.5 * a, neck_top],
                     [cx + 0.55 * a, shoulder_y + 0.1 * b], [cx - 0.55 * a, shoulder_y + 0.1 * b]])
    paint.fill(img, neck, paint.shade(ident.skin, 0.82))
    # shadow under the jaw, fading down the neck
    for i in range(6):
        y = g.cy + (0.9 + 0.05 * i) * b
        band = np.array([[cx - 0.5 * a, y], [cx + 0.5 * a, y], [cx + 0.5 * a, y + 0.06 * b],
                         [cx - 0.5 * a, y + 0.06 * b]])
        paint.fill(img, band, paint.shade(ident.skin, 0.62 + 0.035 * i))
    top = arc(cx - 1.9 * a, cx + 1.9 * a, lambda u: shoulder_y + 0.22 * b * u ** 2, n=32)
    body = np.vstack([top, [[cx + 2.2 * a, s + 2], [cx - 2.2 * a, s + 2]]])
    paint.fill(img, body, ident.shirt)
    collar = arc(cx - 0.62 * a, cx + 0.62 * a,
                 lambda u: shoulder_y + 0.05 * b + 0.28 * b * (1 - u ** 2), n=16)
    paint.line(img, collar, paint.shade(ident.shirt, 0.7), 2.0 * g.k)


def _hair_back(rgb, alpha, ident: Identity, g: Geometry) -> None:
    hair = ident.hair
    if ident.hair_style == "long":
        cap = paint.ellipse_pts((g.cx, g.cy - 0.12 * g.b), (1.18 * g.a, 1.12 * g.b))
        cap = cap[cap[:, 1] < g.cy]
        tail = np.array([[g.cx + 1.2 * g.a, g.cy], [g.cx + 1.3 * g.a, g.cy + 1.35 * g.b],
                         [g.cx - 1.3 * g.a, g.cy + 1.35 * g.b], [g.cx - 1.2 * g.a, g.cy]])
        _fill2(rgb, alpha, np.vstack([cap, tail]), paint.shade(hair, 0.8))
    elif ident.hair_style == "bun":
        _fill2(rgb, alpha, paint.ellipse_pts((g.cx, g.cy - 1.12 * g.b), (0.36 * g.a, 0.3 * g.b)),
               paint.shade(hair, 0.9))
    elif ident.hair_style == "curly":
        for ang in np.linspace(-np.pi * 1.05, 0.05, 13):
            c = (g.cx + 1.0 * g.a * np.cos(ang), g.cy - 0.15 * g.b + 1.0 * g.b * np.sin(ang))
            _fill2(rgb, alpha, paint.ellipse_pts(c, (0.32 * g.a, 0.3 * g.a)), hair)


def _hair_cap(rgb, alpha, ident: Identity, g: Geometry) -> None:
    style = ident.hair_style
    if style == "bald":
        return
    grow = {"short": 0.07, "side_part": 0.09, "long": 0.1, "bun": 0.06, "curly": 0.16}[style] * g.b
    outline = face_outline(g, n=120, grow=grow)
    upper = outline[outline[:, 1] < g.eye_y - 0.1 * g.b]
    upper = upper[np.argsort(np.arctan2(upper[:, 1] - g.cy, upper[:, 0] - g.cx))]
    hl = g.hairline_y
    if style == "side_part":
        centre = lambda u: hl + 0.12 * g.b * (u + 1) ** 1.5 * 0.5 - 0.02 * g.b  # noqa: E731
    elif style == "long":
        centre = lambda u: (hl + 0.05 * g.b + 0.16 * g.b * np.abs(u) ** 0.6  # noqa: E731
                            - 0.06 * g.b * (1 - np.abs(u)))
    elif style == "bun":
        centre = lambda u: hl - 0.05 * g.b + 0.12 * g.b * u ** 2  # noqa: E731
    else:
        centre = lambda u: hl + 0.1 * g.b * u ** 4  # noqa: E731
    # the hairline bends down into thin sideburns instead of ending in a hard corner
    (xr, yr), (xl, yl) = upper[-1], upper[0]
    inset = 0.1 * g.a + grow
    line = arc(xr - inset, xl + inset, lambda u: centre(u) + (np.where(u < 0, yr, yl) - centre(u))
               * np.abs(u) ** 8, n=40)
    _fill2(rgb, alpha, np.vstack([upper, line]), ident.hair)
    # a few strands so the hair has some texture under the lighting
    dark = paint.shade(ident.hair, 0.75)
    for i in range(5):
        x = g.cx + (i - 2) * 0.2 * g.a
        strand = arc(x - 0.08 * g.a, x + 0.12 * g.a,
                     lambda u: hl - 0.05 * g.b - 0.18 * g.b * (1 - u) * 0.5 - 0.04 * g.b * u ** 2, 6)
        paint.line(rgb, strand, dark, 1.0 * g.k)


def _beard(rgb, alpha, ident: Identity, g: Geometry) -> None:
    if ident.facial_hair not in ("beard", "full"):
        return
    outline = face_outline(g, n=120, grow=0.03 * g.b)
    lower = outline[outline[:, 1] > g.nose_y - 0.05 * g.b]
    lower = lower[np.argsort(np.arctan2(lower[:, 1] - g.cy, lower[:, 0] - g.cx))]
    inner = arc(lower[-1, 0], lower[0, 0],
                lambda u: g.mouth_y - 0.12 * g.b - 0.1 * g.b * (1 - u ** 2) + 0.05 * g.b * u ** 2)
    _fill2(rgb, alpha, np.vstack([lower, inner]), paint.shade(ident.hair, 0.95))


def _ears(rgb, alpha, ident: Identity, g: Geometry) -> None:
    for side in (-1, 1):
        c = (g.cx + side * 0.97 * g.a, g.eye_y + 0.2 * g.b)
        _fill2(rgb, alpha, paint.ellipse_pts(c, (0.13 * g.a, 0.21 * g.b)), paint.shade(ident.skin, 0.9))
        inner = paint.ellipse_pts((c[0] + side * 0.02 * g.a, c[1]), (0.06 * g.a, 0.13 * g.b))
        paint.fill(rgb, inner, paint.shade(ident.skin, 0.72))


def _fill2(rgb, alpha, pts, colour) -> None:
    paint.fill(rgb, pts, colour)
    paint.fill(alpha, pts, 255)


def shading_map(ident: Identity, g: Geometry) -> np.ndarray:
    """(S, S) float32 Lambert shading of an ellipsoid around the head."""
    y, x = np.mgrid[0:g.size, 0:g.size].astype(np.float32)
    nx = (x - g.cx) / (1.15 * g.a)
    ny = (y - (g.cy - 0.1 * g.b)) / (1.25 * g.b)
    r2 = nx * nx + ny * ny
    nz = np.sqrt(np.clip(1.0 - r2, 0.0, None))
    norm = np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-6
    light = np.asarray(_LIGHT_DIR[ident.light], np.float32)
    light = light / np.linalg.norm(light)
    lambert = np.clip((nx * light[0] + ny * light[1] + nz * light[2]) / norm, 0.0, 1.0)
    st = ident.light_strength
    return (1.0 - st + st * 1.25 * lambert).astype(np.float32)


def head_layer(ident: Identity, g: Geometry) -> np.ndarray:
    """(S, S, 4) uint8 RGBA head at rest pose, lighting baked in."""
    rgb = np.zeros((g.size, g.size, 3), np.uint8)
    alpha = np.zeros((g.size, g.size), np.uint8)
    _hair_back(rgb, alpha, ident, g)
    _ears(rgb, alpha, ident, g)
    _fill2(rgb, alpha, face_outline(g), ident.skin)
    _beard(rgb, alpha, ident, g)
    _hair_cap(rgb, alpha, ident, g)
    lit = np.clip(rgb.astype(np.float32) * shading_map(ident, g)[..., None], 0, 255)
    return np.dstack([lit.astype(np.uint8), alpha])

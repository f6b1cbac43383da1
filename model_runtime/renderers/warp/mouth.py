"""The mouth interior: what an opening jaw reveals.

The warp mesh splits the source mouth at its mid line into two halves that ride on the upper
and the lower lip (topology.py). So a photo that shows teeth keeps them attached to its upper
lip, and only the new gap between the two mid lines needs drawing. That gap is painted here:
a cavity shaded from the face's own colours (lip tones darkened, never pure black), and, when
the source mouth is closed, upper teeth hanging from the upper lip (more of them the wider the
opening), a hint of lower teeth and a tongue. Edges are anti-aliased per column.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.model_runtime.renderers.warp.paint import Band, band, composite, luminance, polygon_median
from avatar.model_runtime.renderers.warp.rig import Geometry
from avatar.model_runtime.renderers.warp.topology import Topology

OPEN_SOURCE = 0.06       # source inner-lip gap / mouth width above which the photo's own mouth shows
TEETH_LEN = 0.1          # visible upper-teeth length at most, x mouth width
LOWER_TEETH_LEN = 0.03   # ... lower teeth
TEETH_WHITE = np.array([240, 230, 212], np.float32)
MOUTH_RED = np.array([170, 60, 62], np.float32)     # pulls lip tones toward the inside's red
CAVITY = 0.3             # cavity colour, x the lips' colour
MIN_GAP_PX = 0.25        # gaps thinner than this draw nothing (a still face stays the photo)


@dataclass(frozen=True)
class Mouth:
    top: np.ndarray          # (k,) vertex indices: the upper mid line with the inner corners
    bottom: np.ndarray       # (k,) the lower mid line
    mouth_w: float
    cavity: np.ndarray       # (3,) float32 deepest cavity colour
    tongue: np.ndarray       # (3,)
    teeth: np.ndarray        # (3,)
    synth_teeth: bool        # the source mouth is closed: draw teeth
    draw_tongue: bool        # the source shows no cavity of its own (closed, or teeth together)


def build_mouth(crop: np.ndarray, topo: Topology, g: Geometry) -> Mouth:
    p = topo.points[:, :2]
    ch = topo.mouth
    c0, c1 = ch.upper[:1], ch.upper[-1:]
    gap = float((p[ch.lower, 1] - p[ch.upper, 1]).max())
    lips = polygon_median(crop, [p[np.concatenate([g.lips_outer.upper, g.lips_outer.lower[::-1]])]],
                          [p[np.concatenate([ch.upper, ch.lower[::-1]])]])
    skin = np.median(crop[_pixels(p[:468], crop.shape[0])], axis=0).astype(np.float32)
    open_src = gap > OPEN_SOURCE * g.mouth_w
    inner = crop[_pixels(0.5 * (p[ch.upper[1:-1]] + p[ch.lower[1:-1]]), crop.shape[0])].astype(np.float32)
    darkest = lips
    red = MOUTH_RED * luminance(lips) / luminance(MOUTH_RED)               # the lips' light, redder
    cavity = CAVITY * (0.6 * lips + 0.4 * red)
    if open_src:
        # The photo's own teeth and interior stay on the lips; the new gap is its darkest tone
        # at most, so a lit interior does not turn the gap into a pale box.
        order = np.argsort(luminance(inner))
        darkest = inner[order[: max(1, len(order) // 4)]].mean(axis=0)
        cavity = np.minimum(darkest, cavity)
    # Teeth a little under the skin's own light, so a dim or tinted photo gets dim teeth.
    teeth = (0.75 * TEETH_WHITE + 0.25 * skin) * np.clip(luminance(skin) / 150.0, 0.75, 1.0)
    return Mouth(top=np.concatenate([c0, topo.mid_upper, c1]), bottom=np.concatenate([c0, topo.mid_lower, c1]),
                 mouth_w=g.mouth_w, cavity=cavity.astype(np.float32),
                 tongue=(0.4 * lips + 0.45 * red).astype(np.float32), teeth=teeth.astype(np.float32),
                 synth_teeth=not open_src,
                 draw_tongue=not open_src or luminance(darkest) > 0.5 * luminance(lips))


def occlusal_split(crop: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(k,) where an open source mouth splits between its inner-lip pairs ``upper``/``lower``
    (k, 2): at the darkest row between 0.3 and 0.85 of the way down (where the upper teeth
    end, or the cavity), smoothed along the mouth so the teeth are cut on one clean line."""
    k = len(upper)
    rows = np.linspace(0.3, 0.85, 12)                                      # (r,) fractions down
    pts = upper[:, None] + rows[None, :, None] * (lower - upper)[:, None]  # (k, r, 2)
    size = crop.shape[0]
    ij = np.clip(np.round(pts).astype(int), 0, size - 1)
    lum = luminance(crop[ij[..., 1], ij[..., 0]].astype(np.float32))     # (k, r)
    lum = cv2.GaussianBlur(lum, (3, 3), 0)
    f = rows[np.argmin(lum, axis=1)]
    gap = np.linalg.norm(lower - upper, axis=1)
    f = np.where(gap > 2.0, f, 0.5)                                         # shut: nothing to split
    return np.convolve(np.pad(f, 1, mode="edge"), np.ones(3) / 3, mode="valid")[:k]


def _pixels(xy: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    ij = np.clip(np.round(xy).astype(int), 0, size - 1)
    return ij[:, 1], ij[:, 0]


def draw_mouth(image: np.ndarray, mouth: Mouth, dst: np.ndarray) -> None:
    """In place: paint the gap between the warped mid lines (``dst`` (P, 2) vertex positions)."""
    b = band(dst[mouth.top], dst[mouth.bottom], image.shape[0])
    if b is None or float((b.bottom - b.top).max()) < MIN_GAP_PX:
        return
    # A soft edge: the lips' inner rim blends into the opening instead of a cut-out line.
    alpha = cv2.GaussianBlur(b.coverage, (3, 3), 0.6)
    composite(image, b.box, _interior(b, mouth, dst), alpha)


def _interior(b: Band, m: Mouth, dst: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 colours of the opening."""
    left, right = dst[m.top[0], 0], dst[m.top[-1], 0]
    u = np.clip((b.cols - left) / max(right - left, 1.0), 0, 1)           # (w,) 0..1 across
    gap = np.maximum(b.bottom - b.top, 1e-3)                             # (w,)
    y = b.rows                                                           # (h, 1)
    v = np.clip((y - b.top) / gap, 0, 1)                                 # (h, w) 0 top .. 1 bottom
    across = np.sqrt(np.clip(1 - (2 * u - 1) ** 2, 0, 1))               # (w,) 1 centre, 0 corners
    # Cavity: darkest at the back (the middle) and under the palate, the inner cheeks lighter.
    shade = np.clip(0.45 + 0.45 * np.abs(2 * u - 1) + 0.35 * v, 0, 1.1)
    out = m.cavity * shade[..., None]
    # Tongue: a mound rising from the bottom edge, lit on top, darker at its sides.
    open_ = float(gap.max()) / m.mouth_w                                 # opening, x mouth width
    mound = np.sqrt(np.clip(1 - ((u - 0.5) / 0.42) ** 2, 0, 1))          # (w,)
    rise = gap * np.clip(0.2 + 0.5 * open_, 0.2, 0.45) * mound           # (w,) tongue height
    inside = y - (b.bottom - rise)                                       # (h, w) > 0 on the tongue
    # A source showing its own cavity brings its tongue down with the lower lip: no second one.
    t = np.clip(inside / 1.5 + 0.5, 0, 1) * (rise > 0.5) * m.draw_tongue
    lit = 0.75 + 0.3 * mound * np.exp(-np.square(inside / np.maximum(0.35 * rise, 1.0)))
    out += (t * 1.0)[..., None] * (m.tongue * lit[..., None] - out)
    if m.synth_teeth:
        out = _teeth(out, b, m, u, across, gap, y)
    return out


def _teeth(out, b: Band, m: Mouth, u, across, gap, y):
    """Upper teeth hanging from the top edge (visible in proportion to the opening), a hint of
    lower teeth along the bottom one, shaded toward the corners, incisor seams faint."""
    upper_len = np.minimum(0.42 * gap, TEETH_LEN * m.mouth_w) * across ** 1.2  # (w,)
    depth = y - b.top                                                           # (h, w) below the top
    # No teeth in the mouth's corners (the dark buccal corridor).
    upper = np.clip(upper_len - depth + 0.5, 0, 1) * np.clip((across - 0.5) / 0.3, 0, 1)
    seams = 1 - 0.1 * np.exp(-np.square((np.abs(u - 0.5) % 0.09) / 0.012))   # faint gaps between teeth
    # Lips shade the teeth: a slightly parted mouth shows them dim, their roots under the lip darker.
    parted = np.clip(float(gap.max()) / (0.2 * m.mouth_w), 0, 1)
    root = np.clip(depth / np.maximum(upper_len, 1), 0, 1)
    light = (0.45 + 0.55 * across) * seams * (0.7 + 0.25 * parted) * (0.8 + 0.2 * np.sqrt(root))
    out += upper[..., None] * (m.teeth * light[..., None] - out)
    lower_len = np.minimum(0.15 * np.maximum(gap - 0.4 * m.mouth_w, 0), LOWER_TEETH_LEN * m.mouth_w) * across ** 4
    lower = np.clip(lower_len - (b.bottom - y) + 0.5, 0, 1) * (lower_len > 0.5)
    out += lower[..., None] * (0.8 * m.teeth * (0.5 + 0.5 * across)[..., None] - out)
    return out

"""Dense piecewise-affine warp of the crop into one ``cv2.remap``.

Per frame only the triangles that moved are drawn: their indices are rasterised into an
index image over the moved region's bounding box (at 1/step resolution for big crops), each
triangle's inverse affine (output -> source) is solved in one batched inverse, and the source
coordinates are evaluated for every pixel by a numpy gather. Pixels of unmoved triangles keep
the identity, so a still face is reproduced exactly. The coarse displacement is bilinearly
upsampled: exact inside triangles, softened only across triangle edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MOVED_PX = 0.01          # vertices that moved less than this count as still
HALF_RES_FROM = 320      # crops at least this large rasterise the warp at half resolution
EDGE_EPS = 1e-3         # px: pixel centres on a shared edge belong to both triangles (no gaps)


@dataclass(frozen=True)
class Region:
    """A rectangle of the crop, full-resolution pixels [y0:y1, x0:x1]."""
    y0: int
    y1: int
    x0: int
    x1: int


class TriangleWarp:
    """Warps ``size`` x ``size`` crops by moving the vertices of ``triangles``."""

    def __init__(self, size: int, triangles: np.ndarray, step: int = 1):
        self.size, self.step = size, step
        self.triangles = np.asarray(triangles, np.int32)                  # (T, 3)
        n = -(-size // step)
        centres = (step * np.arange(n) + (step - 1) / 2).astype(np.float32)
        self._cx, self._cy = np.meshgrid(centres, centres)               # (n, n) full-res coords
        full = np.arange(size, dtype=np.float32)
        self._fx, self._fy = np.meshgrid(full, full)                       # (S, S)

    def displacement(self, src: np.ndarray, dst: np.ndarray) -> tuple[Region, np.ndarray] | None:
        """(P, 2) source and output vertex positions -> (region, (h, w, 2) float32 output ->
        source offsets over it), or None when nothing moved."""
        moved = np.abs(dst - src).max(axis=1) > MOVED_PX
        live = moved[self.triangles].any(axis=1)
        if not live.any():
            return None
        tris = self.triangles[live]
        d, s = dst[tris].astype(np.float64), src[tris].astype(np.float64)  # (m, 3, 2)
        coef = _inverse_affines(d, s)                                      # (m + 1, 6), last row 0
        step, n = self.step, self._cx.shape[0]
        lo = np.floor((d.reshape(-1, 2).min(axis=0) - step) / step).astype(int) - 1
        hi = np.ceil((d.reshape(-1, 2).max(axis=0) + step) / step).astype(int) + 2
        (cx0, cy0), (cx1, cy1) = np.clip(lo, 0, n), np.clip(hi, 0, n)
        if cx1 <= cx0 or cy1 <= cy0:
            return None
        # Coarse pixel j sits at full-res step * j + (step - 1) / 2.
        pts = (d - (step - 1) / 2) / step - (cx0, cy0)                     # (m, 3, 2) ROI coarse px
        index = rasterise(pts, (cy1 - cy0, cx1 - cx0))
        c = coef[index]                                                    # (h, w, 6)
        gx, gy = self._cx[cy0:cy1, cx0:cx1], self._cy[cy0:cy1, cx0:cx1]
        off = np.empty(index.shape + (2,), np.float32)
        off[..., 0] = c[..., 0] * gx + c[..., 1] * gy + c[..., 2]
        off[..., 1] = c[..., 3] * gx + c[..., 4] * gy + c[..., 5]
        region = Region(cy0 * step, min(cy1 * step, self.size), cx0 * step, min(cx1 * step, self.size))
        if step > 1:
            off = cv2.resize(off, ((cx1 - cx0) * step, (cy1 - cy0) * step), interpolation=cv2.INTER_LINEAR)
            off = off[: region.y1 - region.y0, : region.x1 - region.x0]
        return region, off

    def apply(self, image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 source crop -> the crop with ``src`` vertices moved to ``dst``."""
        out = image.copy()
        found = self.displacement(src, dst)
        if found is None:
            return out
        r, off = found
        map_x = self._fx[r.y0:r.y1, r.x0:r.x1] + off[..., 0]
        map_y = self._fy[r.y0:r.y1, r.x0:r.x1] + off[..., 1]
        out[r.y0:r.y1, r.x0:r.x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REPLICATE)
        return out


def _inverse_affines(d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(m, 3, 2) output and source triangles -> (m + 1, 6) float32 coefficients of the offset
    source - output = (a x + b y + c, d x + e y + f) at output pixel (x, y); the extra last row
    is zero (index -1: pixels no moved triangle covers keep the identity).

    Closed form: with edge matrices D = [d1-d0, d2-d0] and F = [s1-s0, s2-s0] the map is
    s = s0 + F D^-1 (x - d0)."""
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]                             # (m, 2)
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    flat = np.abs(det) < 1e-6           # collapsed triangles cover no pixel; any map will do
    det = np.where(flat, 1.0, det)
    i00, i01, i10, i11 = e2[:, 1] / det, -e2[:, 0] / det, -e1[:, 1] / det, e1[:, 0] / det
    a = np.stack([f1[:, 0] * i00 + f2[:, 0] * i10, f1[:, 0] * i01 + f2[:, 0] * i11,
                  f1[:, 1] * i00 + f2[:, 1] * i10, f1[:, 1] * i01 + f2[:, 1] * i11], axis=1)   # (m, 4)
    a[flat] = (1.0, 0.0, 0.0, 1.0)
    tx = s[:, 0, 0] - a[:, 0] * d[:, 0, 0] - a[:, 1] * d[:, 0, 1]
    ty = s[:, 0, 1] - a[:, 2] * d[:, 0, 0] - a[:, 3] * d[:, 0, 1]
    mean = (s - d).mean(axis=1)
    tx, ty = np.where(flat, mean[:, 0], tx), np.where(flat, mean[:, 1], ty)
    coef = np.stack([a[:, 0] - 1, a[:, 1], tx, a[:, 2], a[:, 3] - 1, ty], axis=1)
    return np.concatenate([coef, np.zeros((1, 6))]).astype(np.float32)


def rasterise(tris: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(m, 3, 2) triangles in pixel coordinates -> (h, w) int32 index of the triangle covering
    each pixel centre (-1: none), vectorised as scanline spans. Thin triangles are written
    first, so their neighbours own the shared edge pixels: a collapsed lid or lip strip (a
    blink, a shut mouth) then shows nothing of the eye or mouth behind it."""
    h, w = shape
    index = np.full(shape, -1, np.int32)
    e1, e2 = tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    order = np.argsort(area, kind="stable")
    t = tris[order]
    ys = t[..., 1]
    r0 = np.clip(np.ceil(ys.min(axis=1) - EDGE_EPS), 0, h).astype(np.int64)
    r1 = np.clip(np.floor(ys.max(axis=1) + EDGE_EPS), -1, h - 1).astype(np.int64)
    rows = np.maximum(r1 - r0 + 1, 0)                                     # (m,)
    tri_of = np.repeat(np.arange(len(t)), rows)                            # (n_spans,)
    y = (np.arange(rows.sum()) - np.repeat(np.cumsum(rows) - rows, rows) + np.repeat(r0, rows)).astype(np.float64)
    a, b = t[tri_of], t[:, [1, 2, 0]][tri_of]                              # (n, 3, 2) edges a -> b
    ya, yb, yy = a[..., 1], b[..., 1], y[:, None]
    # A flat edge needs no crossing of its own: its end points are the other edges' crossings.
    live = (np.minimum(ya, yb) - EDGE_EPS <= yy) & (yy <= np.maximum(ya, yb) + EDGE_EPS) & (ya != yb)
    u = np.clip((yy - ya) / np.where(ya != yb, yb - ya, 1.0), 0, 1)
    x = a[..., 0] + u * (b[..., 0] - a[..., 0])                            # (n, 3) crossings
    x_lo = np.where(live, x, np.inf).min(axis=1)
    x_hi = np.where(live, x, -np.inf).max(axis=1)
    x_lo, x_hi = np.where(np.isfinite(x_lo), x_lo, 1.0), np.where(np.isfinite(x_hi), x_hi, 0.0)
    c0 = np.clip(np.ceil(x_lo - EDGE_EPS), 0, w).astype(np.int64)
    c1 = np.clip(np.floor(x_hi + EDGE_EPS), -1, w - 1).astype(np.int64)
    cols = np.maximum(c1 - c0 + 1, 0)
    span_of = np.repeat(np.arange(len(y)), cols)
    px = np.arange(cols.sum()) - np.repeat(np.cumsum(cols) - cols, cols) + np.repeat(c0, cols)
    index[y.astype(np.int64)[span_of], px] = order[tri_of[span_of]]
    return index

"""Eyes: irises that move with gaze behind the warped lids, and a lash line on closing lids.

Lids come from warped skin (the rig moves the lid chains and the skin above them). The iris
is lifted out of the source at prepare: the crop the warp samples has the iris painted over
with the eye's own sclera (``clean``), and the iris with a soft rim of sclera is kept as a
patch. Each frame the patch is put back where the eye and the gaze put it and clipped to the
warped opening, so lids hide it and it never leaves the eye. At rest it lands on its own
pixels, so a still face is the photo.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.core import face_motion as fm
from avatar.model_runtime.renderers.warp.paint import band, composite, luminance
from avatar.model_runtime.renderers.warp.topology import Chains, Topology, landmark_loops, split_loop
from avatar.model_runtime.renderers.warp.warp import HALF_RES_FROM

GAZE_X = 0.2             # iris shift at eyeLookIn/Out 1, x the eye's width
GAZE_Y = 0.1             # ... at eyeLookUp/Down 1
IRIS_RIM = (1.15, 1.45)  # the patch alpha falls from 1 to 0 between these x iris radius
LID_SEARCH = 0.5         # lid edges are looked for up to this x the opening beyond the mesh's lids
SCLERA_LIGHT = 170.0     # ... and only where the sclera is this light
SCLERA_OVER_SKIN = 25.0  # ... and this much lighter than the skin beyond the lid
SCLERA_MATCH = 30.0      # RGB distance within which a pixel beyond a lid still counts as sclera
LASH_FROM = 0.4          # the lash line appears once the lid has closed this share of the opening


@dataclass(frozen=True)
class Eye:
    chains: Chains           # lid chains (vertex indices), image-left corner first
    out_dir: float           # +1: "out" (away from the nose) is toward the image's right
    suffix: str              # "Left"/"Right": the subject's side, for the eyeLook* channels
    centre: np.ndarray       # (2,) iris centre in the source
    radius: float
    width: float             # corner to corner
    opening: float           # source lid opening (max over columns)
    patch: np.ndarray        # (h, w, 3) float32 source pixels around the iris
    alpha: np.ndarray        # (h, w) float32 soft iris disc x source opening
    origin: np.ndarray       # (2,) crop position of the patch's (0, 0) pixel
    lash: np.ndarray         # (3,) float32 lash colour


def build_eyes(crop: np.ndarray, topo: Topology) -> tuple[np.ndarray, tuple[Eye, ...]]:
    """-> (clean crop: irises painted over with sclera, the two eyes)."""
    clean = crop.copy()
    loops = landmark_loops()
    p = topo.points[:, :2]
    irises = [p[list(loops[k])].mean(axis=0) for k in ("iris_a", "iris_b")]
    radii = [float(np.linalg.norm(p[list(loops[k])] - c, axis=1).mean()) for k, c in zip(("iris_a", "iris_b"), irises)]
    face_x = p[topo.oval, 0].mean()
    eyes = []
    for chains, suffix in zip(topo.eyes, ("Right", "Left")):       # image-left eye = subject's right
        mid = p[np.concatenate([chains.upper, chains.lower])].mean(axis=0)
        k = int(np.argmin([np.linalg.norm(c - mid) for c in irises]))
        eyes.append(_eye(crop, clean, p, chains, suffix, irises[k], radii[k], 1.0 if mid[0] > face_x else -1.0))
    return clean, tuple(eyes)


def _eye(crop, clean, p, chains: Chains, suffix: str, centre, radius: float, out_dir: float) -> Eye:
    size = crop.shape[0]
    half = int(np.ceil(IRIS_RIM[1] * radius)) + 2
    x0, y0 = (np.round(centre) - half).astype(int)
    x0, y0 = int(np.clip(x0, 0, size - 1)), int(np.clip(y0, 0, size - 1))
    x1, y1 = min(x0 + 2 * half + 1, size), min(y0 + 2 * half + 1, size)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.hypot(xx - centre[0], yy - centre[1]) / max(radius, 1e-3)
    disc = np.clip((IRIS_RIM[1] - d) / (IRIS_RIM[1] - IRIS_RIM[0]), 0, 1)
    opening = _opening_mask(p[chains.upper], p[chains.lower], (y0, y1, x0, x1), size)
    # Pixels the lid half covers count as open, so no iris is left behind on the lid's edge;
    # where the alpha is 1 the patch restores the photo exactly.
    alpha = disc * np.clip(opening / 0.3, 0, 1)
    _paint_sclera(crop, clean, (y0, y1, x0, x1), (d <= IRIS_RIM[0]) & (opening >= 0.3), opening)
    above = np.clip(p[chains.upper] + (0, -1.5), 0, size - 1).round().astype(int)
    lash = crop[above[:, 1], above[:, 0]].astype(np.float32)
    lash = lash[np.argsort(luminance(lash))[: max(1, len(lash) // 3)]].mean(axis=0) * 0.45
    return Eye(chains=chains, out_dir=out_dir, suffix=suffix, centre=centre.astype(np.float32), radius=radius,
               width=float(np.linalg.norm(p[chains.upper[-1]] - p[chains.upper[0]])),
               opening=float((p[chains.lower, 1] - p[chains.upper, 1]).max()),
               patch=crop[y0:y1, x0:x1].astype(np.float32), alpha=alpha.astype(np.float32),
               origin=np.array([x0, y0], np.float32), lash=lash.astype(np.float32))


def _opening_mask(upper: np.ndarray, lower: np.ndarray, box, size: int) -> np.ndarray:
    """(h, w) coverage of the lid opening over ``box`` (y0, y1, x0, x1)."""
    y0, y1, x0, x1 = box
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    b = band(upper, lower, size)
    if b is None:
        return out
    sy0, sx0 = max(y0, b.y0), max(x0, b.x0)
    sy1, sx1 = min(y1, b.y0 + b.coverage.shape[0]), min(x1, b.x0 + b.coverage.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = b.coverage[sy0 - b.y0:sy1 - b.y0, sx0 - b.x0:sx1 - b.x0]
    return out


def _paint_sclera(crop, clean, box, hole: np.ndarray, opening: np.ndarray) -> None:
    """Paint the iris ``hole`` of ``clean`` row by row between the sclera on its left and right
    (keeps the sclera's own shading; lids and lashes are never sampled), then soften it."""
    if not hole.any():
        return
    y0, y1, x0, x1 = box
    roi = crop[y0:y1, x0:x1].astype(np.float32)
    sclera = (opening >= 0.999) & ~hole
    pool = roi[sclera] if sclera.sum() >= 4 else roi[opening > 0]
    if len(pool) == 0:
        return
    fallback = np.median(pool[np.argsort(luminance(pool))[len(pool) // 2:]], axis=0)
    fill = roi.copy()
    cols = np.arange(roi.shape[1])
    for r in np.flatnonzero(hole.any(axis=1)):
        ok = np.flatnonzero(sclera[r])
        left, right = ok[ok < cols[hole[r]].min()], ok[ok > cols[hole[r]].max()]
        ends_x = [c for c in (left[-1:], right[:1]) if len(c)]
        if not ends_x:
            fill[r, hole[r]] = fallback
            continue
        xs = np.concatenate(ends_x)
        for ch in range(3):
            fill[r, hole[r], ch] = np.interp(cols[hole[r]], xs, roi[r, xs, ch])
    soft = cv2.GaussianBlur(fill, (0, 0), 1.0)
    clean[y0:y1, x0:x1][hole] = np.clip(soft[hole] + 0.5, 0, 255).astype(np.uint8)


def fit_lids(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(478, 3) landmarks with the lid points moved out to the image's own lid edges where the
    mesh sits inside the eye (drawings: a white band of sclera beyond the mesh's lids would
    stay visible under a closed lid). A lid point moves only across sclera-like pixels (light,
    as colourless as the eye's own sclera), so on photos, where the mesh lids sit on the lid
    edge, nothing moves."""
    lm = landmarks.copy()
    loops = landmark_loops()
    for eye_key, iris_key in (("eye_a", "iris_a"), ("eye_b", "iris_b")):
        chains = split_loop(loops[eye_key], lm[:, :2])
        iris = lm[list(loops[iris_key]), :2]
        sclera = _sclera_colour(crop, lm, chains, iris)
        if sclera is None:
            continue
        h0 = float((lm[chains.lower, 1] - lm[chains.upper, 1]).max())
        for chain, step in ((chains.upper[1:-1], -1), (chains.lower[1:-1], 1)):
            # The skin beyond this lid, out past any band of sclera the mesh missed.
            beyond = np.clip(np.round(lm[chain, :2] + (0, step * (LID_SEARCH + 0.4) * h0)), 0, crop.shape[0] - 1)
            skin = np.median(crop[beyond[:, 1].astype(int), beyond[:, 0].astype(int)].astype(np.float32), axis=0)
            if luminance(sclera) < SCLERA_LIGHT or luminance(sclera) < luminance(skin) + SCLERA_OVER_SKIN:
                continue                    # no clearly white sclera to follow (most photos)
            runs = np.array([_sclera_run(crop, lm[i, :2], step, LID_SEARCH * h0, sclera, skin) for i in chain])
            if (runs > 0).sum() < 2:
                continue
            # One lid moves as one arc (the iris blocks some columns' search): the typical run,
            # shrinking toward the corners with the opening.
            h = lm[chains.lower[1:-1], 1] - lm[chains.upper[1:-1], 1]
            lm[chain, 1] += step * np.percentile(runs[runs > 0], 75) * np.sqrt(np.clip(h / h.max(), 0, 1))
    return lm


def _sclera_colour(crop, lm, chains: Chains, iris: np.ndarray) -> np.ndarray | None:
    """(3,) the eye's sclera colour: the brighter half of the opening's pixels off the iris."""
    size = crop.shape[0]
    box = (0, size, 0, size)
    opening = _opening_mask(lm[chains.upper, :2], lm[chains.lower, :2], box, size)
    centre = iris.mean(axis=0)
    radius = float(np.linalg.norm(iris - centre, axis=1).mean())
    yy, xx = np.nonzero(opening > 0.99)
    off_iris = np.hypot(xx - centre[0], yy - centre[1]) > 1.2 * radius
    pool = crop[yy[off_iris], xx[off_iris]].astype(np.float32)
    if len(pool) < 4:
        return None
    return np.median(pool[np.argsort(luminance(pool))[len(pool) // 2:]], axis=0)


def _sclera_run(crop, start: np.ndarray, step: int, reach: float, sclera: np.ndarray, skin: np.ndarray) -> float:
    """How many pixels from ``start`` along y (``step`` -1 up, +1 down) stay sclera-like:
    within SCLERA_MATCH of the sclera's colour and nearer it than the skin's beyond the lid."""
    size = crop.shape[0]
    x = int(np.clip(round(start[0]), 0, size - 1))
    run = 0
    for d in range(1, int(reach) + 1):
        y = int(round(start[1])) + step * d
        if not 0 <= y < size:
            break
        px = crop[y, x].astype(np.float32)
        # Flat-coloured sclera only (drawn eyes): a photo's lid skin is never this close to it.
        if np.linalg.norm(px - sclera) > SCLERA_MATCH or np.linalg.norm(px - sclera) >= np.linalg.norm(px - skin):
            break
        run = d
    return float(run)


def gaze_shift(eye: Eye, motion: np.ndarray) -> np.ndarray:
    """(2,) iris offset in px for this eye from the eyeLook* channels."""
    m = motion
    out_in = m[fm.INDEX[f"eyeLookOut{eye.suffix}"]] - m[fm.INDEX[f"eyeLookIn{eye.suffix}"]]
    down_up = m[fm.INDEX[f"eyeLookDown{eye.suffix}"]] - m[fm.INDEX[f"eyeLookUp{eye.suffix}"]]
    return np.array([eye.out_dir * out_in * GAZE_X * eye.width, down_up * GAZE_Y * eye.width], np.float32)


def draw_eye(image: np.ndarray, eye: Eye, src: np.ndarray, dst: np.ndarray, motion: np.ndarray) -> None:
    """In place: the iris at its gaze inside the warped opening, then a lash line if closing."""
    up, low = dst[eye.chains.upper], dst[eye.chains.lower]
    b = band(up, low, image.shape[0], pad=int(eye.radius) + 2)
    if b is not None:
        corners = eye.chains.upper[[0, -1]]
        move = (dst[corners] - src[corners]).mean(axis=0) + gaze_shift(eye, motion)
        # Keep the iris centre inside the eye's corners (with half an iris to spare).
        lo, hi = up[0, 0] + 0.5 * eye.radius - eye.centre[0], up[-1, 0] - 0.5 * eye.radius - eye.centre[0]
        move[0] = np.clip(move[0], min(lo, hi), max(lo, hi))
        h, w = b.coverage.shape
        shift = eye.origin + move - (b.x0, b.y0)
        warp = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        patch = cv2.warpAffine(eye.patch, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpAffine(eye.alpha, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        composite(image, b.box, patch, alpha * b.coverage)
    _lash(image, eye, up, low)


def _lash(image: np.ndarray, eye: Eye, up: np.ndarray, low: np.ndarray) -> None:
    """A thin dark line along a closing upper lid (the photo's own lashes are stretched thin)."""
    closed = 1 - float((low[:, 1] - up[:, 1]).max()) / max(eye.opening, 1e-3)
    if closed <= LASH_FROM:
        return
    strength = min(1.0, (closed - LASH_FROM) / (1 - LASH_FROM))
    size = image.shape[0]
    pad = 3
    x0, y0 = np.floor(up.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(up.max(axis=0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # At least 2 px on big crops: their half-resolution warp smears the shut lid line over ~1 px.
    thick = max(2 if size >= HALF_RES_FROM else 1, int(round(0.07 * eye.opening)))
    pts = np.round((up - (x0, y0)) * 16).astype(np.int32)
    cv2.polylines(mask, [pts], False, 255, thick, cv2.LINE_AA, shift=4)
    colour = np.broadcast_to(eye.lash, mask.shape + (3,))
    composite(image, (slice(y0, y1), slice(x0, x1)), colour, mask.astype(np.float32) / 255 * 0.7 * strength)

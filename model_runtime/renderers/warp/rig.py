"""The rig: one displacement field per face-motion control, built from each face's own mesh.

``Rig.basis[k]`` is where every warp vertex moves (crop px, x right, y down, z toward the
viewer) when control ``Rig.names[k]`` is at 1; a frame's displacement is the weighted sum
(``Rig.displace``). Amplitudes are fractions of the face's own sizes (eye distance, mouth
width, lid opening), so one rig fits every face. "Left"/"Right" are the subject's: the
subject's left is the image's right.

Gaze (eyeLook*) is not a mesh field: the irises move inside the lids (eyes.py). Head rotation
is applied after the rig (head.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.core import face_motion as fm
from avatar.model_runtime.renderers.warp.topology import Chains, Topology, landmark_loops, split_loop

JAW_GAP = 0.5            # inner-lip gap at jawOpen 1, x mouth width
JAW_LEVER_MAX = 1.4      # the chin drops at most this many times as far as the lower lip
JAW_CORNER = 0.0         # share of the jaw's drop the mouth corners take (the opening is rounded)
UPPER_LIP_LIFT = 0.06    # upper lip rise at jawOpen 1, x mouth width
BLINK_MEET = 0.78        # closed lids meet this far down the opening
SQUINT_RAISE = 0.25      # lower lid rise at eyeSquint 1, x opening (limited by a closing lid)
LID_SKIN = 0.6           # skin above the upper lid follows it over this x the opening (glasses stay)
WIDE_RAISE = 0.3         # upper lid rise at eyeWide 1, x opening
BROW_UP = 0.11           # brow rise, x eye distance
BROW_BELOW = 0.08        # brow fields fade over this x eye distance below the brow (lids, glasses frames)
BROW_DOWN = (0.04, 0.07)  # brow (inward, down) at browDown 1, x eye distance


@dataclass(frozen=True)
class Geometry:
    """The face's own sizes, crop px."""
    eye_dist: float       # between the iris centres
    mouth_w: float        # outer mouth corner to corner
    mouth_c: np.ndarray   # (2,) mouth centre
    lips_outer: Chains
    lips_inner: Chains
    upper_lip: np.ndarray  # (k,) vertex indices on the upper lip (its contours and the rows between)
    lower_lip: np.ndarray  # (k,) ... on the lower lip


def geometry(topo: Topology) -> Geometry:
    lm = topo.points
    loops = landmark_loops()
    iris = [lm[list(loops[k])].mean(axis=0)[:2] for k in ("iris_a", "iris_b")]
    outer = split_loop(loops["lips_outer"], lm[:, :2])
    corners = lm[[outer.upper[0], outer.upper[-1]], :2]
    inner = topo.mouth
    return Geometry(eye_dist=float(np.linalg.norm(iris[0] - iris[1])),
                    mouth_w=float(np.linalg.norm(corners[1] - corners[0])),
                    mouth_c=lm[np.concatenate([outer.upper, outer.lower]), :2].mean(axis=0),
                    lips_outer=outer, lips_inner=inner,
                    upper_lip=_inside(lm, outer.upper, inner.upper, exclude=inner.lower[1:-1]),
                    lower_lip=_inside(lm, outer.lower, inner.lower, exclude=inner.upper[1:-1]))


def _inside(lm: np.ndarray, outer: np.ndarray, inner: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """Landmarks (of the 468-point mesh) on the lip between an outer and an inner chain (both
    corner to corner), the chains included; ``exclude``: the other lip's inner chain, which a
    shut mouth puts on this lip's inner edge."""
    poly = lm[np.concatenate([outer, inner[::-1]]), :2].astype(np.float32)
    near = [i for i in range(468) if cv2.pointPolygonTest(poly, (float(lm[i, 0]), float(lm[i, 1])), True) >= -0.5]
    keep = (set(near) | set(outer.tolist()) | set(inner.tolist())) - set(exclude.tolist())
    return np.array(sorted(keep), np.int64)


def _gauss(d: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-np.square(d / max(sigma, 1e-6)))


def _curve(xy: np.ndarray, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of the chain ``idx`` (sorted by x) at ``x``, held flat beyond its ends."""
    pts = xy[idx]
    order = np.argsort(pts[:, 0])
    return np.interp(x, pts[order, 0], pts[order, 1])


def _outside(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Distance of x outside [lo, hi] (0 inside)."""
    return np.maximum(0, np.maximum(lo - x, x - hi))


@dataclass(frozen=True)
class Rig:
    names: tuple[str, ...]     # (K,) face-motion channel names driving the fields
    index: np.ndarray          # (K,) their indices in the face-motion vector
    basis: np.ndarray          # (K, P, 3) float32 displacement at value 1

    def displace(self, motion: np.ndarray) -> np.ndarray:
        """(DIM,) face motion -> (P, 3) float32 vertex displacement."""
        v = np.asarray(motion, np.float32)[self.index]
        at = self.names.index
        # Lips pressed shut can only undo as much opening as the jaw made, and a raised lower
        # lid only rises as far as a closing upper lid leaves room for: neither folds over.
        v[at("mouthClose")] = min(v[at("mouthClose")], v[at("jawOpen")])
        for side in ("Left", "Right"):
            room = (1 - v[at(f"eyeBlink{side}")]) / SQUINT_RAISE
            v[at(f"eyeSquint{side}")] = min(v[at(f"eyeSquint{side}")], max(room, 0.0))
        return np.tensordot(v, self.basis, axes=1)


def _jaw(topo: Topology, g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(jawOpen, mouthClose) fields (P, 3). The lower face turns about a hinge between mouth and
    eyes, scaled so the lower lip drops JAW_GAP x mouth width; the upper lip lifts a little."""
    p = topo.points
    n = len(p)
    oval = p[topo.oval]
    lo, li = g.lips_outer, g.lips_inner
    corners = p[[lo.upper[0], lo.upper[-1]], :2]
    ends = oval[[np.argmin(oval[:, 0]), np.argmax(oval[:, 0])], :2]
    eye_y = np.mean([p[np.concatenate([e.upper, e.lower]), 1].mean() for e in topo.eyes])
    # The hinge (the jaw joint) sits about a third of the way from the mouth up to the eyes.
    hinge_y = corners[:, 1].mean() - 0.35 * (corners[:, 1].mean() - eye_y)
    # The split between jaw and upper face: the corner line, then out to the hinges.
    sx = np.array([ends[0, 0], corners[0, 0], corners[1, 0], ends[1, 0]])
    sy = np.array([hinge_y, corners[0, 1], corners[1, 1], hinge_y])
    t = (p[:, 1] - np.interp(p[:, 0], sx, sy)) / (0.25 * g.mouth_w)
    w = np.clip((t + 0.1) / 0.7, 0, 1)
    w = w * w * (3 - 2 * w)
    w[g.upper_lip] = 0.0
    # The lower lip drops most at the middle, so the opening is rounded, not a box; its inner
    # edge takes a little less than the rest of the lip near the corners (never more: no folds).
    lower = g.lower_lip
    for chain, idx in ((lo.lower, lower), (li.lower, li.lower)):
        x0, x1 = p[chain[0], 0], p[chain[-1], 0]
        u = (2 * p[idx, 0] - x0 - x1) / max(x1 - x0, 1e-3)                 # -1..1 corner to corner
        w[idx] = JAW_CORNER + (1 - JAW_CORNER) * np.clip(1 - u * u, 0, 1) ** 0.8
    lip = li.lower[len(li.lower) // 2]
    # The jaw turns about its hinge: the drop grows with the distance below the hinge, so the
    # chin travels further than the lip. Depth is not used: near the silhouette the mesh depth
    # falls off and a depth-driven swing would fold the jaw line over the cheek.
    lever = np.clip((p[:, 1] - hinge_y) / max(p[lip, 1] - hinge_y, 1e-3), 0, JAW_LEVER_MAX)
    jaw = np.zeros((n, 3))
    jaw[:, 1] = w * lever * JAW_GAP * g.mouth_w
    # The lip moves as one arc (the lip centre's drop x the weight), not point by point.
    jaw[lower] = w[lower, None] * jaw[lip] / w[lip]
    jaw[g.upper_lip, 1] -= UPPER_LIP_LIFT * g.mouth_w * _arc(p, g, g.upper_lip)
    close = np.zeros_like(jaw)
    close[lower] = -jaw[lower]
    return jaw.astype(np.float32), close.astype(np.float32)


def _lip_weight(topo: Topology, g: Geometry) -> np.ndarray:
    """(P,) 1 on the lips, falling off outside the outer lip over ~0.3 mouth widths."""
    poly = topo.points[np.concatenate([g.lips_outer.upper, g.lips_outer.lower[::-1]]), :2].astype(np.float32)
    d = np.array([-cv2.pointPolygonTest(poly, (float(x), float(y)), True) for x, y in topo.points[:, :2]])
    return _gauss(np.maximum(d, 0), 0.3 * g.mouth_w)


def _corner(topo: Topology, g: Geometry, side: int, move: tuple[float, float], sigma: float) -> np.ndarray:
    """A mouth-corner field: the corner on ``side`` (0 image-left, 1 image-right) moves by
    ``move`` (outward, up) x mouth width; nearby skin follows, the far half of the mouth barely."""
    p = topo.points
    corner = p[g.lips_outer.upper[-1 if side else 0], :2]
    out = 1.0 if side else -1.0
    d = np.linalg.norm(p[:, :2] - corner, axis=1)
    # How far toward this corner a point lies: 0 at the centre line, 1 at the corner.
    toward = np.clip(out * (p[:, 0] - g.mouth_c[0]) / (0.5 * g.mouth_w) + 0.2, 0, 1)
    w = _gauss(d, sigma * g.mouth_w) * toward
    f = np.zeros_like(p)
    f[:, 0] = w * out * move[0] * g.mouth_w
    f[:, 1] = -w * move[1] * g.mouth_w
    return f


def _rounding(topo: Topology, g: Geometry, squeeze: float, open_: float, forward: float) -> np.ndarray:
    """Lip rounding: lips pulled toward the mouth centre (squeeze x their offset), the inner
    lips parted into an O (open_ x mouth width at the middle), pushed toward the viewer."""
    p = topo.points
    w = _lip_weight(topo, g)
    f = np.zeros_like(p)
    f[:, 0] = -squeeze * w * (p[:, 0] - g.mouth_c[0])
    li = g.lips_inner
    # Rounded lips look thicker; the inner lips keep their height so a shut mouth stays shut.
    thick = 0.25 * squeeze * w * (p[:, 1] - g.mouth_c[1])
    thick[np.concatenate([li.upper, li.lower])] = 0.0
    f[:, 1] = thick
    f[:, 2] = forward * g.mouth_w * w
    # The whole lips part (not just their inner edges, which would fold over the lips' inner
    # rows), and the skin around them follows as the lip weight fades.
    above = p[:, 1] < np.interp(p[:, 0], *_midline(p, li))
    side = np.where(above, -1.0, 1.0)
    side[g.upper_lip], side[g.lower_lip] = -1.0, 1.0
    f[:, 1] += side * w * open_ * g.mouth_w * _arc(p, g, np.arange(len(p)))
    return f


def _midline(p: np.ndarray, inner: Chains) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) of the line halfway between the inner lips, sorted by x."""
    mid = 0.5 * (p[inner.upper, :2] + p[inner.lower, :2])
    order = np.argsort(mid[:, 0])
    return mid[order, 0], mid[order, 1]


def _arc(p: np.ndarray, g: Geometry, idx: np.ndarray) -> np.ndarray:
    """(k,) 1 at the mouth's middle falling to 0 at its outer corners (a half ellipse)."""
    u = (p[idx, 0] - g.mouth_c[0]) / (0.5 * g.mouth_w)
    return np.sqrt(np.clip(1 - u * u, 0, 1))


def _mouth_fields(topo: Topology, g: Geometry) -> dict[str, np.ndarray]:
    jaw, close = _jaw(topo, g)
    fields = {"jawOpen": jaw, "mouthClose": close,
              "mouthFunnel": _rounding(topo, g, squeeze=0.22, open_=0.1, forward=0.1),
              "mouthPucker": _rounding(topo, g, squeeze=0.35, open_=0.0, forward=0.15)}
    # image side 1 = the subject's left
    for side, suffix in ((1, "Left"), (0, "Right")):
        fields[f"mouthSmile{suffix}"] = _corner(topo, g, side, (0.12, 0.16), 0.45)
        fields[f"mouthFrown{suffix}"] = _corner(topo, g, side, (0.02, -0.12), 0.4)
        fields[f"mouthStretch{suffix}"] = _corner(topo, g, side, (0.14, -0.02), 0.5)
    return fields


def _brow_fields(topo: Topology, g: Geometry) -> dict[str, np.ndarray]:
    p = topo.points
    loops = landmark_loops()
    d = g.eye_dist
    eye_pts = np.concatenate([np.concatenate([e.upper, e.lower]) for e in topo.eyes])
    brows = sorted((np.array(loops[k]) for k in ("brow_a", "brow_b")), key=lambda b: p[b, 0].mean())
    fields = {"browInnerUp": np.zeros_like(p)}
    for side, (brow, suffix) in enumerate(zip(brows, ("Right", "Left"))):
        xs = p[brow, 0]
        # Brow centre line; fields fall off fast below it (lids, glasses frames) and slowly above.
        dy = p[:, 1] - _curve(p[:, :2], brow, p[:, 0])
        wx = _gauss(_outside(p[:, 0], xs.min(), xs.max()), 0.25 * d)
        w = wx * np.where(dy < 0, _gauss(dy, 0.9 * d), _gauss(dy, BROW_BELOW * d))
        # A lowered brow presses the lid skin under it down too (else it folds over it).
        w_down = wx * np.where(dy < 0, _gauss(dy, 0.9 * d), _gauss(dy, 2 * BROW_BELOW * d))
        w[eye_pts], w_down[eye_pts] = 0.0, 0.0
        inner_x, outer_x = (xs.max(), xs.min()) if side == 0 else (xs.min(), xs.max())
        r = np.clip((p[:, 0] - inner_x) / (outer_x - inner_x), 0, 1)     # 0 inner end, 1 outer end
        up = np.zeros_like(p)
        up[:, 1] = -BROW_UP * d * w
        fields["browInnerUp"] += up * (1 - 0.7 * r)[:, None]
        fields[f"browOuterUp{suffix}"] = up * (0.3 + 0.7 * r)[:, None]
        down = np.zeros_like(p)
        toward_nose = 1.0 if side == 0 else -1.0
        down[:, 0] = toward_nose * BROW_DOWN[0] * d * w_down * (1 - 0.5 * r)
        down[:, 1] = BROW_DOWN[1] * d * w_down
        fields[f"browDown{suffix}"] = down
    return fields


def _lid(topo: Topology, eye: Chains, lid: str, amount: np.ndarray, sigma: float) -> np.ndarray:
    """Move one lid chain by ``amount`` (k,) px (+ down) and the skin beyond it (above the upper
    lid, below the lower) by a share that fades over ``sigma`` x the opening; only within the
    eye's width, so glasses and brows beside the eye stay put."""
    p = topo.points
    chain = eye.upper if lid == "upper" else eye.lower
    f = np.zeros_like(p)
    x0, x1 = p[eye.upper[0], 0], p[eye.upper[-1], 0]
    h0 = float((p[eye.lower, 1] - p[eye.upper, 1]).max())
    edge = _curve(p[:, :2], chain, p[:, 0])
    beyond = (edge - p[:, 1]) if lid == "upper" else (p[:, 1] - edge)
    order = np.argsort(p[chain, 0])
    shift = np.interp(p[:, 0], p[chain, 0][order], amount[order])
    w = np.where(beyond > 0, _gauss(beyond, sigma * h0), 0.0)
    w *= _gauss(_outside(p[:, 0], x0, x1), 0.15 * (x1 - x0))
    w[np.concatenate([eye.upper, eye.lower])] = 0.0
    f[:, 1] = w * shift
    f[chain, 1] = amount
    return f


def _eye_fields(topo: Topology) -> dict[str, np.ndarray]:
    p = topo.points
    fields = {}
    for eye, suffix in zip(topo.eyes, ("Right", "Left")):
        h = p[eye.lower, 1] - p[eye.upper, 1]          # (k,) opening per column, 0 at the corners
        # Both lids close onto one curve, each point at its own x, so they meet without crossing.
        top = _curve(p[:, :2], eye.upper, p[:, 0])
        meet = top + BLINK_MEET * (_curve(p[:, :2], eye.lower, p[:, 0]) - top)    # (P,) at every x
        fields[f"eyeBlink{suffix}"] = (_lid(topo, eye, "upper", meet[eye.upper] - p[eye.upper, 1], LID_SKIN)
                                       + _lid(topo, eye, "lower", meet[eye.lower] - p[eye.lower, 1], 0.5))
        fields[f"eyeWide{suffix}"] = _lid(topo, eye, "upper", -WIDE_RAISE * h, 0.6)
        fields[f"eyeSquint{suffix}"] = _lid(topo, eye, "lower", -SQUINT_RAISE * h, 0.8)
    return fields


def build_rig(topo: Topology) -> Rig:
    g = geometry(topo)
    fields = {**_mouth_fields(topo, g), **_brow_fields(topo, g), **_eye_fields(topo)}
    basis = np.stack([fields[k] for k in fields]).astype(np.float32)      # (K, P, 3)
    # The mouth's mid lines ride on the inner lips (the source interior splits between them).
    basis[:, topo.mid_upper] = basis[:, topo.mouth.upper[1:-1]]
    basis[:, topo.mid_lower] = basis[:, topo.mouth.lower[1:-1]]
    basis[:, topo.ring1] = 0.0
    basis[:, topo.fixed] = 0.0
    names = tuple(fields)
    return Rig(names=names, index=np.array([fm.INDEX[n] for n in names]), basis=basis)

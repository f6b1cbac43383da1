"""The warp mesh of one face: mediapipe's 468-point triangles, the mouth and eye openings, and
three rings outside the face oval (the outer two fixed) that hold the neck and background.

Vertex layout (all arrays index the same vertex list):
  0..477          the face-mesh landmarks (468 mesh points + 10 iris points, not triangulated)
  mid_upper/lower two copies of the mouth's mid line, one riding on each lip (see ``MouthChains``)
  ring1           the oval pushed out a little; follows the oval partly (soft neck/hair)
  ring2           the oval pushed out to near the crop edge; fixed
  ring3           the oval pushed far outside the crop; fixed (covers the crop corners)

Loops and chains come from mediapipe's connection sets, not hand-typed index lists; sides and
corners are read off the face's own landmark positions.
"""
from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as fmc

from avatar.model_runtime.portrait.landmarks import N_LANDMARKS

RING1_SHARE = 0.45       # ring1 sits this far from the oval toward ring2
# ring1 moves this share of its oval point's motion: the motion then fades linearly from the
# oval to the fixed ring2, so straight lines there (a neck's edges) stay straight, only tilted.
RING1_FOLLOW = 1 - RING1_SHARE
RING_ROOM = 0.7          # ring1 never closes more than this share of the gap to a neighbour ring
RING2_SCALE = 1.6        # ring2 = oval scaled about its centre, clipped to the crop
MOUTH_SPLIT = 0.65       # an open source mouth splits this far from its upper to its lower lip (default)
EDGE_MARGIN = 0.03       # of the crop side: ring2 stays this far inside the crop


def _ordered_loops(edges) -> list[list[int]]:
    """Closed loops of an undirected edge set in which every vertex has degree 2."""
    adj = collections.defaultdict(list)
    for a, b in {tuple(sorted(e)) for e in edges}:
        adj[a].append(b)
        adj[b].append(a)
    seen, loops = set(), []
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [v for v in adj[cur] if v != prev][0]
            if nxt == start:
                break
            loop.append(nxt)
            seen.add(nxt)
            prev, cur = cur, nxt
        loops.append(loop)
    return loops


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """(T, 3) int32 triangles of the 468-point mesh: the 3-cliques of FACEMESH_TESSELATION,
    less the two cliques whose edges all belong to three cliques (they are not faces)."""
    edges = {tuple(sorted(e)) for e in fmc.FACEMESH_TESSELATION}
    adj = collections.defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, k))) for a, b in edges for k in adj[a] & adj[b]}
    use = collections.Counter(e for t in tris for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))
    faces = [t for t in tris if min(use[(t[0], t[1])], use[(t[0], t[2])], use[(t[1], t[2])]) < 3]
    return np.array(sorted(faces), np.int32)


@functools.lru_cache(maxsize=1)
def landmark_loops() -> dict[str, tuple[int, ...]]:
    """Ordered index loops: face oval, inner and outer lips, both eyes, both brows, iris rings."""
    lips = _ordered_loops(fmc.FACEMESH_LIPS)
    # Both lip loops have 20 points; the inner one is the boundary of the mesh's mouth hole.
    inner, outer = (lips[0], lips[1]) if _is_hole(lips[0]) else (lips[1], lips[0])
    return {
        "oval": tuple(_ordered_loops(fmc.FACEMESH_FACE_OVAL)[0]),
        "lips_inner": tuple(inner), "lips_outer": tuple(outer),
        "eye_a": tuple(_ordered_loops(fmc.FACEMESH_LEFT_EYE)[0]),
        "eye_b": tuple(_ordered_loops(fmc.FACEMESH_RIGHT_EYE)[0]),
        "brow_a": tuple(sorted({v for e in fmc.FACEMESH_LEFT_EYEBROW for v in e})),
        "brow_b": tuple(sorted({v for e in fmc.FACEMESH_RIGHT_EYEBROW for v in e})),
        "iris_a": tuple(sorted({v for e in fmc.FACEMESH_LEFT_IRIS for v in e})),
        "iris_b": tuple(sorted({v for e in fmc.FACEMESH_RIGHT_IRIS for v in e})),
    }


def _is_hole(loop: list[int]) -> bool:
    """True when the loop is a boundary of the triangle mesh (every edge in one triangle)."""
    use = collections.Counter(tuple(sorted(e)) for t in mesh_triangles()
                              for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))
    return all(use[tuple(sorted((a, b)))] == 1 for a, b in zip(loop, loop[1:] + loop[:1]))


@dataclass(frozen=True)
class Chains:
    """An opening split at its two corners into an upper and a lower chain, both running from
    the image-left corner to the image-right corner (corners included in both)."""
    upper: np.ndarray     # (k,) int vertex indices
    lower: np.ndarray     # (k,) int


def split_loop(loop: tuple[int, ...], xy: np.ndarray) -> Chains:
    """Split a closed loop at its leftmost and rightmost points (by this face's x)."""
    loop = list(loop)
    xs = xy[loop, 0]
    i0, i1 = int(np.argmin(xs)), int(np.argmax(xs))
    n = len(loop)
    fwd = [loop[(i0 + k) % n] for k in range((i1 - i0) % n + 1)]
    back = [loop[(i0 - k) % n] for k in range((i0 - i1) % n + 1)]
    up, low = (fwd, back) if xy[fwd, 1].mean() < xy[back, 1].mean() else (back, fwd)
    m = min(len(up), len(low))
    # Lid and lip chains have equal lengths in the canonical mesh; pair by resampling if not.
    return Chains(np.array(_resample(up, m), np.int64), np.array(_resample(low, m), np.int64))


def _resample(chain: list[int], m: int) -> list[int]:
    if len(chain) == m:
        return chain
    idx = np.round(np.linspace(0, len(chain) - 1, m)).astype(int)
    return [chain[i] for i in idx]


def strip(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangles between two chains of equal length (quads split along one diagonal);
    repeated vertices (shared corners) give no triangle."""
    out = []
    for i in range(len(a) - 1):
        for t in ((a[i], a[i + 1], b[i]), (a[i + 1], b[i + 1], b[i])):
            if len(set(t)) == 3:
                out.append(tuple(int(v) for v in t))
    return out


def closed_strip(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int, int]]:
    return strip(np.append(a, a[0]), np.append(b, b[0]))


@dataclass(frozen=True)
class Topology:
    points: np.ndarray        # (P, 3) float32 source positions, crop px; z + toward the viewer
    triangles: np.ndarray     # (T, 3) int32
    mouth: Chains             # inner-lip chains (landmark indices)
    mid_upper: np.ndarray     # (k,) vertex indices of the mid line riding on the upper lip
    mid_lower: np.ndarray     # (k,) ... on the lower lip (corners are the lip corners)
    eyes: tuple[Chains, ...]  # (image-left eye, image-right eye) lid chains
    oval: np.ndarray          # (36,) landmark indices, ordered
    ring1: np.ndarray         # (36,) vertex indices
    fixed: np.ndarray         # (72,) vertex indices of ring2 + ring3 (never move)


def _ring(oval_xy: np.ndarray, centre: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ring1, ring2, ring3) (36, 2) each: the oval pushed out along rays from its centre."""
    ray = oval_xy - centre                                    # (36, 2)
    lo, hi = EDGE_MARGIN * size, (1 - EDGE_MARGIN) * size
    with np.errstate(divide="ignore", invalid="ignore"):
        # Largest scale keeping each ray's point inside [lo, hi]^2.
        lim = np.where(ray > 0, (hi - centre) / ray, np.where(ray < 0, (lo - centre) / ray, np.inf))
    s2 = np.clip(np.minimum(RING2_SCALE, lim.min(axis=1)), 1.05, RING2_SCALE)[:, None]
    s1 = 1 + RING1_SHARE * (s2 - 1)
    unit = ray / np.linalg.norm(ray, axis=1, keepdims=True)
    ring3 = centre + unit * 2.0 * size                        # far outside: covers the corners
    return centre + s1 * ray, centre + s2 * ray, ring3


def build(landmarks: np.ndarray, size: int, split=None) -> Topology:
    """The warp mesh of a face: ``landmarks`` (478, 3) in crop pixels, z + toward the viewer.
    ``split(upper, lower)``: (k, 2) inner-lip pairs -> (k,) where the source mouth splits
    between them (0 upper .. 1 lower; default MOUTH_SPLIT everywhere)."""
    lm = np.asarray(landmarks, np.float32)
    loops = landmark_loops()
    xy = lm[:, :2]
    mouth = split_loop(loops["lips_inner"], xy)
    eyes = sorted((split_loop(loops[k], xy) for k in ("eye_a", "eye_b")), key=lambda c: xy[c.upper, 0].mean())
    oval = np.array(loops["oval"], np.int64)
    centre = xy[oval].mean(axis=0)
    r1, r2, r3 = _ring(xy[oval], centre, size)

    inner_u, inner_l = mouth.upper[1:-1], mouth.lower[1:-1]
    # The source mouth's split line (k-2, 3): upper teeth are longer than the lower ones show.
    f = np.full(len(inner_u), MOUTH_SPLIT) if split is None else split(lm[inner_u, :2], lm[inner_l, :2])
    mid = (1 - f[:, None]) * lm[inner_u] + f[:, None] * lm[inner_l]
    z_ring = np.full((36, 1), lm[oval, 2].mean(), np.float32)
    extra = [mid, mid, np.hstack([r1, z_ring]), np.hstack([r2, z_ring]), np.hstack([r3, z_ring])]
    points = np.vstack([lm] + [np.asarray(e, np.float32) for e in extra])
    k = len(inner_u)
    mid_u = np.arange(N_LANDMARKS, N_LANDMARKS + k)
    mid_l = mid_u + k
    ring1 = np.arange(mid_l[-1] + 1, mid_l[-1] + 37)
    ring2, ring3 = ring1 + 36, ring1 + 72

    c0, c1 = mouth.upper[:1], mouth.upper[-1:]
    full_mid_u = np.concatenate([c0, mid_u, c1])
    full_mid_l = np.concatenate([c0, mid_l, c1])
    tris = [tuple(t) for t in mesh_triangles()]
    tris += strip(mouth.upper, full_mid_u) + strip(full_mid_u, full_mid_l) + strip(full_mid_l, mouth.lower)
    for eye in eyes:
        tris += strip(eye.upper, eye.lower)
    tris += closed_strip(oval, ring1) + closed_strip(ring1, ring2) + closed_strip(ring2, ring3)
    return Topology(points=points, triangles=np.array(tris, np.int32), mouth=mouth,
                    mid_upper=mid_u, mid_lower=mid_l, eyes=tuple(eyes), oval=oval, ring1=ring1,
                    fixed=np.concatenate([ring2, ring3]))


def follow_ring(topo: Topology, pts: np.ndarray) -> None:
    """In place: move ring1 with the oval in ``pts`` (P, 2+): RING1_FOLLOW of the oval's motion,
    more where the oval would otherwise close in on it (a wide-open jaw pushes the chin out),
    less where it would close in on the fixed ring2, so no strip folds over."""
    src = topo.points[:, :2]
    o0, r1, r2 = src[topo.oval], src[topo.ring1], src[topo.fixed[:len(topo.ring1)]]
    move = pts[topo.oval, :2] - o0                                          # (36, 2)
    out = np.maximum(np.linalg.norm(move, axis=1), 1e-6)
    gap01 = np.linalg.norm(r1 - o0, axis=1)
    gap12 = np.linalg.norm(r2 - r1, axis=1)
    share = np.maximum(RING1_FOLLOW, 1 - RING_ROOM * gap01 / out)
    share = np.minimum(share, RING_ROOM * gap12 / out)
    pts[topo.ring1, :2] = r1 + np.clip(share, 0, 1)[:, None] * move

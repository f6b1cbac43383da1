"""Face-mesh topology the portrait module needs, taken from mediapipe's own connection sets.

Landmarks are mediapipe 0.10's face mesh with ``refine_landmarks=True``: 478 points,
468-477 the irises. mediapipe's "LEFT" sets are the subject's left eye (image right on
an unmirrored photo).
"""
from __future__ import annotations

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as fmc

N_LANDMARKS = 478


def _points(edges: frozenset) -> np.ndarray:
    return np.array(sorted({i for edge in edges for i in edge}), dtype=np.int64)


def _ordered_loop(edges: frozenset, start: int) -> np.ndarray:
    """Walk the closed loop through ``start`` in an undirected edge set into an ordered index list."""
    nbrs: dict[int, list[int]] = {}
    for a, b in edges:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    loop, prev = [start], None
    while True:
        step = min(n for n in nbrs[loop[-1]] if n != prev)   # min: a fixed direction of travel
        if step == start:
            return np.array(loop, dtype=np.int64)
        prev = loop[-1]
        loop.append(step)


# Every eye-contour point: their mean is a gaze-independent eye centre and averages the
# landmark noise of 16 points, which keeps the framing still (the iris follows gaze).
RIGHT_EYE = _points(fmc.FACEMESH_RIGHT_EYE)   # subject's right eye (image left, unmirrored)
LEFT_EYE = _points(fmc.FACEMESH_LEFT_EYE)
FACE_OVAL = _ordered_loop(fmc.FACEMESH_FACE_OVAL, 10)  # 36 points around the face, from the forehead
LIPS_OUTER = _ordered_loop(fmc.FACEMESH_LIPS, 61)   # the outer lip contour (61, 291: mouth corners)
LIPS_INNER = _ordered_loop(fmc.FACEMESH_LIPS, 78)   # the inner lip contour (78, 308: its corners)
NOSE_TIP = 1
CHIN = 152      # lowest point of the face oval on the midline
FOREHEAD = 10   # highest point of the face oval on the midline


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(478, >=2) landmarks -> (right eye centre, left eye centre), each (2,) float64."""
    xy = lm[:, :2].astype(np.float64)
    return xy[RIGHT_EYE].mean(axis=0), xy[LEFT_EYE].mean(axis=0)


def eye_distance(lm: np.ndarray) -> float:
    right, left = eye_centres(lm)
    return float(np.linalg.norm(left - right))


def face_box(lm: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the landmarks."""
    x0, y0 = lm[:, :2].min(axis=0)
    x1, y1 = lm[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def face_area(lm: np.ndarray) -> float:
    x0, y0, x1, y1 = face_box(lm)
    return (x1 - x0) * (y1 - y0)

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


def _ordered_loop(edges: frozenset) -> np.ndarray:
    """Walk a closed loop of edges into an ordered index list (for polygons)."""
    nxt = {a: b for a, b in edges}
    start = min(nxt)
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
    return np.array(loop, dtype=np.int64)


# Every eye-contour point: their mean is a gaze-independent eye centre and averages the
# landmark noise of 16 points, which keeps the framing still (the iris follows gaze).
RIGHT_EYE = _points(fmc.FACEMESH_RIGHT_EYE)   # subject's right eye (image left, unmirrored)
LEFT_EYE = _points(fmc.FACEMESH_LEFT_EYE)
FACE_OVAL = _ordered_loop(fmc.FACEMESH_FACE_OVAL)  # 36 points, forehead -> cheek -> chin -> cheek
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

"""Small 3D head rotation of the mesh, from the face mesh's own depth.

Coordinates: x right, y down (crop px), z toward the viewer. The face turns about a pivot
behind it (roughly the neck's top); only the face's own vertices turn fully, ring1 follows
the oval partly (topology.py) and the outer rings stay, so neck and background hold.

Signs follow core/face_motion.py: headYaw + turns the face (the nose) toward the image's right,
headPitch + tips the chin down, headRoll + tilts the top of the head toward the image's right.
"""
from __future__ import annotations

import math

import numpy as np

MAX_RAD = math.radians(12.0)   # a one-photo warp tears beyond this
PIVOT_DEPTH = 0.35             # the pivot sits this many face widths behind the oval


def pivot(points: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """(3,) the rotation centre: the oval's centre in x, y, PIVOT_DEPTH face widths behind it."""
    o = points[oval]
    width = o[:, 0].max() - o[:, 0].min()
    return np.array([o[:, 0].mean(), o[:, 1].mean(), o[:, 2].mean() - PIVOT_DEPTH * width], np.float32)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) R with p' = R p in (x right, y down, z toward the viewer), angles clamped."""
    yaw, pitch, roll = (float(np.clip(a, -MAX_RAD, MAX_RAD)) for a in (yaw, pitch, roll))
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])      # front (z > 0) goes to +x
    r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])    # front goes down (+y)
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])     # top (y < 0) goes to +x
    return (r_roll @ r_yaw @ r_pitch).astype(np.float32)


def rotate(points: np.ndarray, centre: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(n, 3) -> (n, 3) turned about ``centre``."""
    if yaw == 0.0 and pitch == 0.0 and roll == 0.0:
        return points
    return (points - centre) @ rotation(yaw, pitch, roll).T + centre

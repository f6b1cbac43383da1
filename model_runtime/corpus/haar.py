"""Viola-Jones face detection with OpenCV's Haar cascade files, evaluated in numpy.

Why hand-written: OpenCV 5 (our pinned opencv-python-headless 5.0) dropped
``cv2.CascadeClassifier`` and the ``cv2.data`` cascade files from its main
modules. This evaluates the same stump cascades (the XML from Debian's
``opencv-data`` package, or ``cv2.data.haarcascades`` where a build still
ships it) the way OpenCV's ``detectMultiScale`` does: an image pyramid,
24x24 windows, variance normalisation, stage rejection, and rectangle
grouping. It was checked against cv2.CascadeClassifier from
opencv-contrib-python-headless 5.0 (see docs/CORPUS.md).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.core.errors import AvatarError

CASCADE = "haarcascade_frontalface_default.xml"
SEARCH_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")


def find_cascade(name: str = CASCADE) -> Path:
    dirs = [getattr(getattr(cv2, "data", None), "haarcascades", ""), *SEARCH_DIRS]
    for d in dirs:
        if d and (Path(d) / name).is_file():
            return Path(d) / name
    raise AvatarError(f"Haar cascade {name} not found in {dirs}; install the Debian package "
                      "opencv-data")


@dataclass
class _Stage:
    threshold: float
    rect: np.ndarray       # (F, R, 4) x, y, w, h in the 24x24 window (unused rects: weight 0)
    weight: np.ndarray     # (F, R)
    node_thr: np.ndarray   # (F,)
    leaves: np.ndarray     # (F, 2)

    def offsets(self, stride: int) -> np.ndarray:
        """(F, R, 4) flat offsets of the corners A, B, C, D in an integral image."""
        x, y, w, h = np.moveaxis(self.rect, -1, 0)
        return np.stack([y * stride + x, y * stride + x + w,
                         (y + h) * stride + x, (y + h) * stride + x + w], -1)


class HaarCascade:
    def __init__(self, path: Path | None = None) -> None:
        root = ET.parse(str(path or find_cascade())).getroot().find("cascade")
        if root is None or root.findtext("featureType").strip() != "HAAR":
            raise AvatarError(f"{path}: not a HAAR cascade")
        self.win = int(root.findtext("width")), int(root.findtext("height"))
        rects = []
        for feat in root.find("features"):
            if feat.findtext("tilted", "0").strip() == "1":
                raise AvatarError("tilted Haar features are not supported")
            rects.append([[float(v) for v in r.text.split()] for r in feat.find("rects")])
        self.stages = [self._stage(st, rects) for st in root.find("stages")]

    @staticmethod
    def _stage(st, rects) -> _Stage:
        weak = list(st.find("weakClassifiers"))
        nodes = [[float(v) for v in w.findtext("internalNodes").split()] for w in weak]
        leaves = [[float(v) for v in w.findtext("leafValues").split()] for w in weak]
        n_r = max(len(rects[int(n[2])]) for n in nodes)
        rect = np.zeros((len(nodes), n_r, 4), np.int64)
        weight = np.zeros((len(nodes), n_r))
        for f, node in enumerate(nodes):
            for r, (x, y, w, h, wt) in enumerate(rects[int(node[2])]):
                rect[f, r] = (int(x), int(y), int(w), int(h))
                weight[f, r] = wt
        return _Stage(float(st.findtext("stageThreshold")), rect, weight,
                      np.array([n[3] for n in nodes]), np.array(leaves))

    def _scan(self, gray: np.ndarray, step: int) -> np.ndarray:
        """Top-left corners (N, 2) of windows that pass every stage, as (x, y)."""
        ww, wh = self.win
        s, sq = cv2.integral2(gray, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        stride = s.shape[1]
        ys, xs = np.mgrid[0:gray.shape[0] - wh + 1:step, 0:gray.shape[1] - ww + 1:step]
        base = (ys * stride + xs).ravel()
        # variance normalisation over the window minus a 1-pixel border, as OpenCV does
        a, b = base + stride + 1, base + stride + ww - 1
        c, d = base + (wh - 1) * stride + 1, base + (wh - 1) * stride + ww - 1
        flat, flat_sq = s.ravel(), sq.ravel()
        area = (ww - 2) * (wh - 2)
        mean_sum = flat[d] - flat[b] - flat[c] + flat[a]
        sq_sum = flat_sq[d] - flat_sq[b] - flat_sq[c] + flat_sq[a]
        nf = area * sq_sum - mean_sum ** 2
        nf = np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)
        alive = np.arange(base.size)
        for st in self.stages:
            idx = base[alive][:, None, None, None] + st.offsets(stride)[None]  # (N, F, R, 4)
            v = flat[idx]
            rect = v[..., 3] - v[..., 1] - v[..., 2] + v[..., 0]           # (N, F, R)
            feat = (rect * st.weight[None]).sum(-1) / nf[alive][:, None]    # (N, F)
            score = np.where(feat < st.node_thr[None], st.leaves[:, 0], st.leaves[:, 1]).sum(1)
            alive = alive[score >= st.threshold]
            if alive.size == 0:
                break
        return np.stack([xs.ravel()[alive], ys.ravel()[alive]], 1)

    def detect(self, gray: np.ndarray, scale_factor: float = 1.1, min_neighbors: int = 3,
               min_size: int = 0) -> np.ndarray:
        """Face boxes (N, 4) as x, y, w, h in ``gray``'s pixels (uint8 2-D image)."""
        ww, wh = self.win
        found = []
        scale = 1.0
        while True:
            w, h = int(round(gray.shape[1] / scale)), int(round(gray.shape[0] / scale))
            if w < ww or h < wh:
                break
            if ww * scale >= min_size:
                small = cv2.resize(gray, (w, h), interpolation=cv2.INTER_LINEAR)
                for x, y in self._scan(small, 1 if scale > 2 else 2):
                    found.append((x * scale, y * scale, ww * scale, wh * scale))
            scale *= scale_factor
        return group_rectangles(np.round(np.array(found)).reshape(-1, 4), min_neighbors)


def group_rectangles(rects: np.ndarray, min_neighbors: int, eps: float = 0.2) -> np.ndarray:
    """Cluster similar boxes and keep clusters with more than ``min_neighbors`` members."""
    n = len(rects)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for i in range(n):
        for j in range(i + 1, n):
            r1, r2 = rects[i], rects[j]
            delta = eps * (min(r1[2], r2[2]) + min(r1[3], r2[3])) * 0.5
            if (abs(r1[0] - r2[0]) <= delta and abs(r1[1] - r2[1]) <= delta and
                    abs(r1[0] + r1[2] - r2[0] - r2[2]) <= delta and
                    abs(r1[1] + r1[3] - r2[1] - r2[3]) <= delta):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    kept = [(np.round(rects[m].mean(0)), len(m)) for m in groups.values() if len(m) > min_neighbors]
    out = []
    for i, (r1, n1) in enumerate(kept):
        # like OpenCV, drop a box that sits inside a box with clearly more support
        inside = any(j != i and n2 > max(3, n1) and _inside(r1, r2, eps)
                     for j, (r2, n2) in enumerate(kept))
        if not inside:
            out.append(r1)
    return np.array(out, np.int64).reshape(-1, 4)


def _inside(r1: np.ndarray, r2: np.ndarray, eps: float) -> bool:
    dx, dy = round(r2[2] * eps), round(r2[3] * eps)
    return bool(r1[0] >= r2[0] - dx and r1[1] >= r2[1] - dy and
                r1[0] + r1[2] <= r2[0] + r2[2] + dx and r1[1] + r1[3] <= r2[1] + r2[3] + dy)

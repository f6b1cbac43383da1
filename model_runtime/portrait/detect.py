"""Find every face in a photo and fit mediapipe's 478-point face mesh to it.

mediapipe's face mesh finds faces with its short-range detector, which sees the
whole image at 128x128 and so misses faces smaller than about a sixth of the
image's long side (full-body and group photos). A wide or tall image is also
searched in squares along its long side; when that yields no face, overlapping
tiles at halving sizes are searched until a level finds one. Every face found is then fitted
again on a window centred on it, so its landmarks do not depend on which tile
(or which pass) found it.
"""
from __future__ import annotations

import cv2
import mediapipe as mp

from avatar.model_runtime.mediapipe_compat import quiet_native_stderr
import numpy as np

from avatar.model_runtime.portrait.landmarks import N_LANDMARKS, eye_distance, face_area, face_box

MAX_FACES = 5
DETECT_SIDE = 1024      # the whole-image pass runs on a copy no larger than this
TILE_MIN = 192          # smallest tile searched (source pixels): the detector's own input is 128
# refit windows: (shift x, shift y) in face sizes and width in face sizes (about the detector's comfortable range)
REFIT_JITTER = ((0.0, 0.0, 2.2), (0.04, 0.0, 2.0), (0.0, 0.04, 2.4), (-0.04, -0.04, 2.2),
                (0.04, 0.04, 2.1), (-0.04, 0.0, 2.3), (0.0, -0.04, 2.0), (0.04, -0.04, 2.4))
SAME_FACE = 0.5         # two detections closer than this x eye distance are one face


class FaceFinder:
    """One mediapipe FaceMesh (static images, irises refined); close it when done."""

    def __init__(self, max_faces: int = MAX_FACES):
        with quiet_native_stderr():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=max_faces)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fit(self, rgb: np.ndarray) -> list[np.ndarray]:
        """(h, w, 3) uint8 -> list of (478, 3) float64 in rgb's pixels (z x its width, mediapipe's sign)."""
        with quiet_native_stderr():
            result = self._mesh.process(np.ascontiguousarray(rgb))
        h, w = rgb.shape[:2]
        faces = []
        for face in result.multi_face_landmarks or []:
            lm = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)
            if lm.shape[0] == N_LANDMARKS:
                faces.append(lm * (w, h, w))
        return faces

    def _fit_scaled(self, image: np.ndarray, x0: int, y0: int, x1: int, y1: int,
                    side: int) -> list[np.ndarray]:
        """Fit on image[y0:y1, x0:x1] resized so its long side is at most ``side``; landmarks in image pixels."""
        window = image[y0:y1, x0:x1]
        k = min(1.0, side / max(window.shape[:2]))
        if k < 1.0:
            size = (max(1, round(window.shape[1] * k)), max(1, round(window.shape[0] * k)))
            window = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
        kx, ky = window.shape[1] / (x1 - x0), window.shape[0] / (y1 - y0)
        return [lm / (kx, ky, kx) + (x0, y0, 0.0) for lm in self._fit(window)]

    def _tiles(self, image: np.ndarray, tile: int) -> list[np.ndarray]:
        """Every face found on half-overlapping square tiles of side ``tile``."""
        h, w = image.shape[:2]
        return [lm for y in _starts(h, tile) for x in _starts(w, tile)
                for lm in self._fit_scaled(image, x, y, x + tile, y + tile, DETECT_SIDE)]

    def _refit(self, image: np.ndarray, lm: np.ndarray, windows=REFIT_JITTER[:1]) -> np.ndarray:
        """The mean of fits on windows centred on the face, slightly shifted and scaled.

        Independent of how the face was found, and steadier: one fit moves by a fraction of
        a pixel when the image noise changes; the mean of several moves less, which keeps the
        crop's framing still when the same portrait arrives re-encoded.
        """
        h, w = image.shape[:2]
        x0, y0, x1, y1 = face_box(lm)
        size = max(x1 - x0, y1 - y0)
        centre = lm[:, :2].mean(axis=0)
        fits = []
        for dx, dy, context in windows:
            half = context * size / 2
            cx, cy = (x0 + x1) / 2 + dx * size, (y0 + y1) / 2 + dy * size
            box = (max(0, int(cx - half)), max(0, int(cy - half)),
                   min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half))))
            again = self._fit_scaled(image, *box, DETECT_SIDE)
            if again:
                fits.append(min(again, key=lambda f: np.linalg.norm(f[:, :2].mean(0) - centre)))
        same = [f for f in fits if np.linalg.norm(f[:, :2].mean(0) - centre) < SAME_FACE * eye_distance(lm)]
        return np.mean(same, axis=0) if same else lm   # the windows lost it (rare, at image edges): first fit

    def find(self, image: np.ndarray) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB -> list of (478, 3) float64 landmarks in image pixels, largest first
        (the largest, the one animated, averaged over all the jittered windows)."""
        h, w = image.shape[:2]
        faces = self._fit_scaled(image, 0, 0, w, h, DETECT_SIDE)
        tile = min(h, w)
        if max(h, w) > 1.2 * tile:      # wide or tall (groups, full body): squares along the long side too
            faces += self._tiles(image, tile)
        while not faces and tile // 2 >= TILE_MIN:   # nothing yet: smaller tiles until a level finds a face
            tile //= 2
            faces = self._tiles(image, tile)
        faces = sorted(_distinct([self._refit(image, lm) for lm in _distinct(faces)]), key=face_area, reverse=True)
        return [self._refit(image, faces[0], REFIT_JITTER)] + faces[1:] if faces else []


def _starts(length: int, tile: int) -> list[int]:
    """Tile origins along one axis: half-overlapping, the last flush with the end."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, tile // 2))
    return starts + [length - tile]


def _distinct(faces: list[np.ndarray]) -> list[np.ndarray]:
    """Drop repeats of one face (overlapping tiles), keeping the larger fit."""
    kept: list[np.ndarray] = []
    for lm in sorted(faces, key=eye_distance, reverse=True):
        centre = lm[:, :2].mean(axis=0)
        if all(np.linalg.norm(centre - k[:, :2].mean(axis=0)) > SAME_FACE * eye_distance(k) for k in kept):
            kept.append(lm)
    return kept

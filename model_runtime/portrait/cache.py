"""Analyse each distinct portrait once, also when the portrait changes at runtime."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from avatar.model_runtime.portrait.analysis import MAX_SIDE, Portrait, analyse_portrait, check_image

CACHE_SIZE = 4   # portraits kept; a robot switches between a handful of faces


class PortraitCache:
    """Least-recently-used analyses keyed by the image's content (sha1 of bytes + shape + max_side)."""

    def __init__(self, max_side: int = MAX_SIDE, size: int = CACHE_SIZE):
        self.max_side = max_side
        self.size = size
        self._entries: OrderedDict[str, Portrait] = OrderedDict()
        self._lock = threading.Lock()   # a node swaps portraits from its callback thread while the engine runs
        self.analyses = 0   # how many times analysis actually ran (a cache hit runs none)

    def key(self, image: np.ndarray) -> str:
        digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        return f"{digest}:{'x'.join(map(str, image.shape))}:{self.max_side}"

    def get(self, image: np.ndarray) -> Portrait:
        """The analysed portrait (InputError as analyse_portrait); analyses only an unseen image."""
        check_image(image)
        key = self.key(image)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        portrait = analyse_portrait(image, self.max_side)   # outside the lock: hits stay instant meanwhile
        with self._lock:
            self.analyses += 1
            self._entries[key] = portrait
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return portrait

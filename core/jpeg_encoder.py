"""JPEG encoding off the publishing thread (ROS-free).

The frame generator publishes raw frames as soon as they are rendered; the compressed copy
(``<image>/compressed``) and the web view's MJPEG are encoded here, on a thread of their own,
so that a slow encode never delays a raw frame. The queue holds at most ``depth`` frames and
drops the oldest when full (a stale frame is worth less than a fresh one), counting the drops.
"""
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from avatar.core.errors import AvatarError, InputError

JPEG_QUALITY = 85
QUEUE_DEPTH = 2


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """(H, W, 3) uint8 RGB -> JPEG bytes (a standard JPEG, i.e. BGR order for OpenCV)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise AvatarError("JPEG encoding failed")
    return buf.tobytes()


class JpegEncoder:
    """``submit(tag, rgb)`` from any thread; ``on_jpeg(tag, jpeg)`` is called on the encoder's
    thread in submission order. ``tag`` is opaque (a stamp, a message header). ``rgb`` must not
    be modified after submitting it. Errors in encoding or in ``on_jpeg`` go to ``on_error``
    (counted in ``errors``) and the encoder carries on with the next frame."""

    def __init__(self, on_jpeg: Callable[[Any, bytes], None], quality: int = JPEG_QUALITY,
                 depth: int = QUEUE_DEPTH, on_error: Callable[[Exception], None] | None = None):
        self.quality = quality
        self.dropped = 0
        self.encoded = 0
        self.errors = 0
        self._on_jpeg = on_jpeg
        self._on_error = on_error
        self._queue: deque = deque(maxlen=depth)     # (tag, (H, W, 3) uint8)
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="jpeg-encoder", daemon=True)
        self._thread.start()

    def submit(self, tag: Any, rgb: np.ndarray) -> None:
        with self._cond:
            if self._stopping:
                return
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1                       # deque(maxlen) drops the oldest on append
            self._queue.append((tag, rgb))
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def _next(self) -> tuple[Any, np.ndarray] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._stopping)
            return self._queue.popleft() if self._queue else None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            tag, rgb = item
            try:
                self._on_jpeg(tag, encode_jpeg(rgb, self.quality))
                self.encoded += 1
            except Exception as err:  # noqa: BLE001 - one bad frame or callback must not stop the stream
                self.errors += 1
                if self._on_error is not None:
                    self._on_error(err)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Drop what is queued and end the thread (an encode in progress finishes first)."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join(timeout_s)


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 RGB; InputError when they do not decode."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{len(jpeg)} bytes are not a decodable JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

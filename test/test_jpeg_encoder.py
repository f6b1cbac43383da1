"""The threaded JPEG encoder: order, quality, drop-oldest with a count, errors survived."""
import threading

import cv2
import numpy as np
import pytest

from avatar.core.jpeg_encoder import JpegEncoder, encode_jpeg


def _frame(value: int, side: int = 64) -> np.ndarray:
    """(side, side, 3) uint8: a red-to-blue ramp whose green channel carries ``value``."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    rgb = np.zeros((side, side, 3), np.uint8)
    rgb[..., 0] = ramp[None, :]
    rgb[..., 1] = value
    rgb[..., 2] = ramp[::-1][None, :]
    return rgb


def test_encode_jpeg_round_trips_in_rgb_order():
    rgb = _frame(120)
    bgr = cv2.imdecode(np.frombuffer(encode_jpeg(rgb, 95), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(bgr[..., ::-1].astype(int) - rgb).mean() < 3


def test_frames_arrive_in_order_with_their_tags_at_the_set_quality():
    got, done = [], threading.Event()

    def on_jpeg(tag, jpeg):
        got.append((tag, jpeg))
        if len(got) == 2:
            done.set()

    encoder = JpegEncoder(on_jpeg, quality=90)
    try:
        encoder.submit("a", _frame(10))
        encoder.submit("b", _frame(200))
        assert done.wait(10), got
    finally:
        encoder.stop()
    assert [t for t, _ in got] == ["a", "b"] and encoder.dropped == 0 and encoder.encoded == 2
    greens = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)[..., 1].mean() for _, j in got]
    assert greens[0] == pytest.approx(10, abs=3) and greens[1] == pytest.approx(200, abs=3)
    small = len(encode_jpeg(_frame(10, 256), 20))
    assert small < len(encode_jpeg(_frame(10, 256), 95))


def test_a_blocked_consumer_drops_the_oldest_and_counts():
    release, first_in, all_in = threading.Event(), threading.Event(), threading.Event()
    got = []

    def on_jpeg(tag, jpeg):
        first_in.set()
        release.wait(10)        # the consumer is stuck on the first frame
        got.append(tag)
        if len(got) == 3:
            all_in.set()

    encoder = JpegEncoder(on_jpeg, depth=2)
    try:
        encoder.submit(0, _frame(0))
        assert first_in.wait(10)
        for tag in range(1, 6):          # 1..5 queue behind a depth-2 queue: 1, 2, 3 are dropped
            encoder.submit(tag, _frame(tag))
        assert encoder.dropped == 3 and encoder.pending() == 2
        release.set()
        assert all_in.wait(10), got
    finally:
        encoder.stop()
    assert got == [0, 4, 5]


def test_a_failing_callback_is_reported_and_the_stream_goes_on():
    errors, got, done = [], [], threading.Event()

    def on_jpeg(tag, jpeg):
        if tag == "bad":
            raise RuntimeError("publisher gone")
        got.append(tag)
        done.set()

    encoder = JpegEncoder(on_jpeg, on_error=errors.append)
    try:
        encoder.submit("bad", _frame(1))
        encoder.submit("good", _frame(2))
        assert done.wait(10)
    finally:
        encoder.stop()
    assert got == ["good"] and encoder.errors == 1 and "publisher gone" in str(errors[0])

"""The ROS-free playout core: audio buffer, delay choice, frame scheduling, letterboxing."""
import threading
import time

import numpy as np
import pytest

from avatar.core.av_sync import (AudioBuffer, DelayController, FrameQueue, PlayoutClock, PlayoutConfig,
                                 Presenter)
from avatar.core.diagnostics import DiagnosticsWindow
from avatar.core.window_view import letterbox_rect


def test_audio_buffer_places_chunks_by_stamp():
    buf = AudioBuffer(16000, max_s=10.0)
    t = 1000.0
    buf.push(t + 0.02, np.full(320, 16384, np.int16))    # arrives out of order
    buf.push(t, np.full(320, -16384, np.int16))
    buf.push(t + 0.06, np.full(320, 8192, np.int16))     # a 20 ms hole before it
    start = round(t * 16000)
    out = buf.read(start - 10, 1300)
    assert np.all(out[:10] == 0)
    assert np.all(out[10:330] == -0.5) and np.all(out[330:650] == 0.5)
    assert np.all(out[650:970] == 0)                       # the hole is silence
    assert np.all(out[970:1290] == 0.25) and np.all(out[1290:] == 0)
    assert buf.pending_after(t + 0.05) and not buf.pending_after(t + 0.09)
    # Played chunks are released: reading later drops what ended before.
    buf.read(start + 1290, 10)
    assert not buf.pending_after(t)


def test_audio_buffer_is_bounded():
    buf = AudioBuffer(16000, max_s=1.0)
    for k in range(200):                                    # 4 s of 20 ms chunks
        buf.push(k * 0.02, np.ones(320, np.int16))
    assert not np.any(buf.read(0, 16000))                   # the oldest 3 s were dropped
    assert np.all(buf.read(round(3.5 * 16000), 320) > 0)


def test_delay_controller_fixed_grows_and_shrinks_only_when_quiet():
    fixed = DelayController(PlayoutConfig(delay_s=0.2))
    assert not any(fixed.observe(1.0) for _ in range(50)) and fixed.delay_s == 0.2
    auto = DelayController(PlayoutConfig(initial_delay_s=0.3, margin_s=0.05))
    for _ in range(20):
        auto.observe(0.5)
    assert auto.delay_s == pytest.approx(0.55)
    for _ in range(200):
        auto.observe(0.02, "audio")                         # audio comes early: frames set the delay
    assert auto.delay_s == pytest.approx(0.55)
    for _ in range(200):
        auto.observe(0.1, quiet=False)                      # speech queued: keep the delay
    assert auto.delay_s == pytest.approx(0.55)
    auto.observe(0.1, quiet=True)
    assert auto.delay_s == pytest.approx(0.15)
    for _ in range(20):
        auto.observe(0.3, "audio")                          # late audio raises it too
    assert auto.delay_s == pytest.approx(0.35)
    capped = DelayController(PlayoutConfig(max_delay_s=1.0))
    for _ in range(20):
        capped.observe(30.0)
    assert capped.delay_s == 1.0


def test_frame_queue_skips_late_and_reordered_frames():
    q = FrameQueue(max_frames=8)
    for k in (0, 1, 2, 1, 3):                               # a repeated stamp is refused
        q.push(k * 0.04, k)
    assert q.skipped == 1
    assert q.pop_due(-1.0) is None
    assert q.pop_due(0.09) == (0.08, 2)                     # the newest due frame; 0 and 1 were late
    assert q.skipped == 3
    assert q.next_stamp() == pytest.approx(0.12)


class _RecordingSink:
    def __init__(self, clock):
        self.clock, self.shown = clock, []

    def open(self):
        pass

    def show(self, payload):
        self.shown.append((payload, self.clock.media_now()))

    def poll(self):
        return True

    def close(self):
        pass


def _wait(predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_presenter_shows_each_frame_when_the_clock_reaches_its_stamp():
    clock = PlayoutClock(delay_s=0.2)
    frames = FrameQueue(64)
    sink = _RecordingSink(clock)
    diag = DiagnosticsWindow()
    presenter = Presenter(clock, frames, sink, diag)
    t0 = time.time()
    for k in range(25):                                     # 1 s of frames, 0.2 s ahead of the clock
        frames.push(t0 + k * 0.04, k)
    presenter.start()
    _wait(lambda: sink.shown and sink.shown[-1][0] == 24, 5.0)    # due at 1.2 s
    presenter.stop()
    shown = [p for p, _ in sink.shown]
    assert shown == sorted(shown) and len(shown) >= 22      # a loaded machine may skip one or two
    offsets_ms = [(now - (t0 + k * 0.04)) * 1000 for k, now in sink.shown]
    # Never early by more than the render lead, and typically within a few ms.
    assert min(offsets_ms) > -5 and np.median(offsets_ms) < 20
    assert "av_offset_ms_p50" in diag.snapshot()[2]


def test_presenter_follows_the_audio_clock():
    """With an audio clock the presenter ignores the wall clock: a paused clock holds the picture."""
    position = {"t": 50.0}
    clock = PlayoutClock(delay_s=0.0)
    clock.follow_audio(lambda: position["t"])
    frames = FrameQueue(64)
    sink = _RecordingSink(clock)
    presenter = Presenter(clock, frames, sink, DiagnosticsWindow())
    for k in range(10):
        frames.push(50.0 + k * 0.04, k)
    presenter.start()
    _wait(lambda: sink.shown, 5.0)
    time.sleep(0.2)                                          # a paused clock: nothing else is due
    assert [p for p, _ in sink.shown] == [0]
    position["t"] = 50.2
    _wait(lambda: len(sink.shown) >= 2, 5.0)
    presenter.stop()
    assert [p for p, _ in sink.shown] == [0, 5]


def test_presenter_reports_sink_errors():
    class Broken(_RecordingSink):
        def open(self):
            raise RuntimeError("no screen")
    presenter = Presenter(PlayoutClock(0.1), FrameQueue(4), Broken(None), DiagnosticsWindow())
    presenter.start()
    for _ in range(100):
        if not presenter.running:
            break
        time.sleep(0.01)
    assert not presenter.running and "no screen" in str(presenter.error)


@pytest.mark.parametrize("src,dst,expected", [
    ((256, 256), (800, 600), (100, 0, 600, 600)),
    ((256, 256), (600, 800), (0, 100, 600, 600)),
    ((320, 240), (640, 480), (0, 0, 640, 480)),
    ((100, 50), (1920, 1080), (0, 60, 1920, 960)),
])
def test_letterbox_rect(src, dst, expected):
    assert letterbox_rect(*src, *dst) == expected


def test_audio_buffer_is_thread_safe():
    buf = AudioBuffer(16000, max_s=2.0)
    stop = threading.Event()
    errors, blocks = [], []

    def reader():
        pos = 0
        while not stop.is_set():
            try:
                blocks.append(buf.read(pos, 320))
            except Exception as err:  # noqa: BLE001 - any error here is the failure
                errors.append(err)
            pos = (pos + 320) % (500 * 320)
    th = threading.Thread(target=reader)
    th.start()
    for k in range(500):
        buf.push(k * 0.02, np.ones(320, np.int16))
    stop.set()
    th.join()
    assert not errors and blocks and all(b.shape == (320,) for b in blocks)
    assert np.all(buf.read(499 * 320, 320) > 0)

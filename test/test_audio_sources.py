"""core.audio_sources: real-time pacing, players, the directory queue, the pump and a real PortAudio device."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.core.audio_io import save_wav
from avatar.core.audio_sources import (ChunkPump, ClipPlayer, DirectoryQueue, MicSource, Pacer, file_source,
                                       parse_device, silence_source)
from avatar.core.errors import AvatarError


def _tone(seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (amp * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def test_pacer_keeps_a_deadline_schedule_without_drift():
    pacer = Pacer(0.02, now=time.time)
    stop = threading.Event()
    t0 = time.monotonic()
    stamps = []
    for k in range(25):
        stamps.append(pacer.wait(stop))
        if k == 10:
            time.sleep(0.05)          # a slow consumer catches up instead of shifting the schedule
    elapsed = time.monotonic() - t0
    assert abs(elapsed - 0.5) < 0.06, elapsed
    assert np.allclose(np.diff(stamps), 0.02, atol=1e-5)


def test_pacer_restarts_after_a_long_stall_and_stops_promptly():
    pacer = Pacer(0.02, now=time.time, max_late_s=0.1)
    stop = threading.Event()
    first = pacer.wait(stop)
    time.sleep(0.3)
    second = pacer.wait(stop)
    assert second - first > 0.25      # stamps jump with the stall instead of bursting a backlog
    stop.set()
    assert pacer.wait(stop) is None


def _drain(player, n):
    stop = threading.Event()
    return [player.read(stop) for _ in range(n)]


def test_silence_source_is_paced_and_stamped():
    t0 = time.time()
    chunks = _drain(silence_source(time.time), 10)
    assert all(c.samples.dtype == np.int16 and len(c.samples) == 320 and not c.samples.any() for c in chunks)
    assert abs(chunks[0].stamp - t0) < 0.05 and np.allclose(np.diff([c.stamp for c in chunks]), 0.02, atol=1e-5)
    assert time.time() - t0 >= 0.19


def test_file_source_plays_then_silence_or_loops(tmp_path):
    save_wav(tmp_path / "a.wav", _tone(0.05))              # 800 samples: 2.5 chunks
    once = np.concatenate([c.samples for c in _drain(file_source(str(tmp_path / "a.wav"), time.time), 5)])
    assert np.abs(once[:800]).max() > 10000 and not once[800:].any()
    looped = _drain(file_source(str(tmp_path / "a.wav"), time.time, loop=True), 5)
    x = np.concatenate([c.samples for c in looped])
    assert np.array_equal(x[800:1600], x[:800])           # the loop is seamless, no padding inside


def test_player_without_silence_restarts_the_stream_for_the_next_clip():
    clips = [np.full(400, 1000, np.int16)]
    player = ClipPlayer(lambda: clips.pop() if clips else None, time.time, fill_silence=False, poll_s=0.01)
    stop = threading.Event()
    a, b = player.read(stop), player.read(stop)
    assert len(b.samples) == 320 and b.samples[:80].all() and not b.samples[80:].any()
    threading.Timer(0.2, lambda: clips.append(np.full(320, 7, np.int16))).start()
    c = player.read(stop)
    assert c.samples.tolist() == [7] * 320 and c.stamp - b.stamp > 0.15


def test_directory_queue_plays_in_name_order_and_files_away(tmp_path):
    warnings = []
    save_wav(tmp_path / "002.wav", _tone(0.1))
    save_wav(tmp_path / "001.wav", _tone(0.1, amp=0.1))
    (tmp_path / "003.wav").write_text("broken")
    (tmp_path / ".hidden.wav").write_text("ignored")
    (tmp_path / "notes.txt").write_text("ignored")
    old = time.time() - 5
    for p in tmp_path.iterdir():
        os.utime(p, (old, old))
    q = DirectoryQueue(str(tmp_path), warn=warnings.append, scan_every_s=0.0)
    first = q.next_clip()
    assert q.current == "001.wav" and np.abs(first).max() < 4000
    assert q.next_clip() is not None and q.current == "002.wav"
    assert q.next_clip() is None and q.current == ""
    assert q.played == ["001.wav", "002.wav"]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["001.wav", "002.wav"]
    assert [p.name for p in (tmp_path / "failed").iterdir()] == ["003.wav"]
    assert len(warnings) == 1 and "003.wav" in warnings[0]
    save_wav(tmp_path / "004.wav", _tone(0.1))             # just written: waits until it settles
    assert q.next_clip() is None
    os.utime(tmp_path / "004.wav", (old, old))
    assert q.next_clip() is not None and q.current == "004.wav"


def test_parse_device():
    assert parse_device("mic") is None and parse_device("mic:") is None
    assert parse_device("mic:3") == 3 and parse_device("mic:USB Audio") == "USB Audio"


def test_missing_microphone_is_one_line_error():
    with pytest.raises(AvatarError, match="microphone 'no such device' unavailable") as info:
        MicSource("no such device", time.time)
    assert "\n" not in str(info.value)


def test_pump_reports_a_failure_once_and_recovers(tmp_path):
    path = tmp_path / "late.wav"
    errors, recovered, chunks = [], [], []
    pump = ChunkPump(lambda: file_source(str(path), time.time), chunks.append, errors.append,
                     lambda: recovered.append(True), backoff_s=(0.02, 0.05)).start()
    try:
        time.sleep(0.4)
        assert pump.failures >= 4 and len(errors) == 1 and "not found" in errors[0] and not chunks
        save_wav(path, _tone(0.1))
        deadline = time.monotonic() + 3
        while len(chunks) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(chunks) >= 5 and recovered == [True]
    finally:
        pump.stop()
    assert not pump._thread.is_alive()


_ALSA_RC = """pcm.avatar_test {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
"""

_MIC_SCRIPT = """
import threading, time, numpy as np
from avatar.core.audio_sources import MicSource
mic = MicSource("avatar_test", time.time)
stop = threading.Event()
chunks = [mic.read(stop) for _ in range(60)]
x = np.concatenate([c.samples for c in chunks]).astype(np.float64) / 32768
spec = np.abs(np.fft.rfft(x[2000:]))
print(mic.rate, len(chunks[0].samples), round(float(np.abs(x).max()), 3), round(np.argmax(spec) * 16000 / len(x[2000:])))
mic.close()
"""


def test_microphone_through_portaudio_alsa_device(tmp_path):
    """A real PortAudio capture: an ALSA 'file' PCM that reads a 440 Hz tone (float32, 44.1 kHz)."""
    raw = tmp_path / "in.raw"
    t = np.arange(44100 * 4) / 44100
    (0.25 * np.sin(2 * np.pi * 440 * t)).astype("<f4").tofile(raw)
    (tmp_path / ".asoundrc").write_text(_ALSA_RC.format(raw=raw))
    env = dict(os.environ, HOME=str(tmp_path))      # PortAudio reads ~/.asoundrc when it starts
    out = subprocess.run([sys.executable, "-c", _MIC_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).parent)
    assert out.returncode == 0, out.stderr[-2000:]
    rate, n, peak, freq = out.stdout.split()
    assert rate == "44100" and n == "320" and abs(float(peak) - 0.25) < 0.01 and abs(int(freq) - 440) < 5


def test_removed_queue_directory_is_reported_once_not_fatal(tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    errors = []

    def make():
        return ClipPlayer(DirectoryQueue(str(queue), warn=errors.append, scan_every_s=0.0).next_clip, time.time)
    pump = ChunkPump(make, lambda chunk: None, errors.append, backoff_s=(0.01, 0.02)).start()
    try:
        time.sleep(0.2)
        queue.rmdir()
        time.sleep(0.5)
        assert pump.failures >= 5 and pump._thread.is_alive()
    finally:
        pump.stop()
    assert [e.split(":")[0] for e in errors] == [f"cannot read speech queue {queue}",
                                                 "speech queue directory not found"]

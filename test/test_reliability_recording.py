"""Issue 15, recordings never lost: no silent overwrite (one default everywhere), crash-safe
fragmented MP4 from the recorder (a real process SIGKILLed mid-recording), and the
check_writable / atomic_output helpers that `avatar render` uses."""
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from av_fixtures import RATE, Source, click_track, decode_mp4, ros_setup, start_node

from avatar.core.errors import InputError
from avatar.core.output_file import OVERWRITE_DEFAULT, atomic_output, check_writable

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ros(monkeypatch) -> dict:
    return ros_setup(monkeypatch)


# -- check_writable / atomic_output ---------------------------------------------------------
def test_check_writable_refuses_with_one_line(tmp_path):
    out = tmp_path / "a.mp4"
    assert check_writable(out, False) == out
    with pytest.raises(InputError, match="is a directory"):
        check_writable(tmp_path, True)
    with pytest.raises(InputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "a.mp4", False)
    out.write_bytes(b"old")
    with pytest.raises(InputError, match="exists; not replacing it"):
        check_writable(out, False)
    assert check_writable(out, True) == out


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_writable_refuses_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="not writable"):
            check_writable(ro / "a.mp4", False)
    finally:
        ro.chmod(0o755)


def test_atomic_output_renames_only_on_success(tmp_path):
    out = tmp_path / "talk.mp4"
    with atomic_output(out) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp != out
        tmp.write_bytes(b"new")
        assert not out.exists()          # nothing under the final name while writing
    assert out.read_bytes() == b"new" and list(tmp_path.iterdir()) == [out]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask      # the usual permissions, not mkstemp's 0600


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_leaves_no_partial_file(tmp_path, error):
    out = tmp_path / "talk.mp4"
    out.write_bytes(b"previous take")
    with pytest.raises(error):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"half")
            raise error()
    assert out.read_bytes() == b"previous take" and list(tmp_path.iterdir()) == [out]


# -- one overwrite default --------------------------------------------------------------------
def test_overwrite_is_false_everywhere():
    from avatar.nodes.recorder import Recorder
    yaml_value = yaml.safe_load((REPO / "config" / "avatar.yaml").read_text())["recorder"]["ros__parameters"]
    node_default = next(p.default for p in Recorder.PARAMS if p.name == "overwrite")
    assert OVERWRITE_DEFAULT is False and node_default is OVERWRITE_DEFAULT
    assert yaml_value.get("overwrite", node_default) is False
    assert "| `overwrite` | `false` |" in (REPO / "docs" / "OUTPUT.md").read_text()


@pytest.mark.ros
def test_recorder_refuses_an_existing_file(ros, tmp_path):
    out = tmp_path / "take.mp4"
    out.write_bytes(b"an earlier recording")
    log = tmp_path / "recorder.log"
    proc = start_node("recorder", {"path": out}, ros, log)
    assert proc.wait(60) == 1, log.read_text()
    assert out.read_bytes() == b"an earlier recording"
    errors = [ln for ln in log.read_text().splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and "exists; not replacing it" in errors[0], log.read_text()


# -- crash-safe recording ---------------------------------------------------------------------
@pytest.mark.ros
def test_sigkilled_recorder_leaves_a_playable_file(ros, tmp_path):
    """SIGKILL after the recorder reported N frames: the file decodes and holds >= N - 25 frames
    (a fragment per second) and the audio with them."""
    out = tmp_path / "crash.mp4"
    log = tmp_path / "recorder.log"
    proc = start_node("recorder", {"path": out, "overwrite": True}, ros, log)
    src = Source(ros)
    received = []
    try:
        src.wait_for_subscribers(proc=proc, log=log)

        def tick(k):
            src.executor.spin_once(timeout_sec=0)
            n = int(src.diagnostics.get("avatar: recorder", {}).get("frames_total", 0))
            if n >= 100:
                proc.send_signal(signal.SIGKILL)
                received.append(n)
                return True
            return False

        src.stream(30.0, time.time(), click_track(30 * RATE, [1.0, 2.0, 3.0]), on_tick=tick)
        assert proc.wait(20) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        src.close()
    assert received, f"the recorder never reported 100 frames: {log.read_text()[-2000:]}"
    n = received[0]
    info = decode_mp4(str(out))
    frames, audio_s = len(info["frames"]), len(info["audio"]) / RATE
    print(f"\n[crash] recorder reported {n} frames; the killed file holds {frames} frames, {audio_s:.2f} s audio")
    assert frames >= n - 25, (frames, n)
    assert audio_s >= (n - 25) / 25 - 0.1, (audio_s, n)
    assert np.abs(info["audio"]).max() > 0.1          # the clicks are in it, not just silence


@pytest.mark.ros
def test_restarted_recorder_continues_in_a_new_file(ros, tmp_path):
    """Under `avatar launch`'s supervisor a SIGKILLed recorder is restarted into take.restart1.mp4:
    the crashed take.mp4 is kept (playable), and recording goes on."""
    import threading

    from avatar.core.graph import NodeSpec
    from avatar.nodes.launching import GraphRunner
    out = tmp_path / "take.mp4"
    lines: list[str] = []
    runner = GraphRunner([NodeSpec("recorder", "recorder", {"path": str(out)})], REPO / "config" / "avatar.yaml",
                         log=lines.append, respawn_delay_s=0.2)
    src = Source(ros)
    killed, fresh = [], []
    try:
        runner.start()
        threading.Thread(target=runner.wait, args=(None,), daemon=True).start()
        src.wait_for_subscribers()

        def tick(k):
            src.executor.spin_once(timeout_sec=0)
            n = int(src.diagnostics.get("avatar: recorder", {}).get("frames_total", 0))
            if not killed and n >= 60:
                killed.append(n)
                os.kill(runner._children["recorder"].proc.pid, signal.SIGKILL)
            elif killed and n < killed[0]:
                fresh.append(n)          # the restarted recorder counts from 0 again
            # Stream on until the new recorder has taken 60 frames of its own.
            return bool(fresh) and n >= 60
        src.stream(40.0, time.time(), click_track(40 * RATE, [1.0]), on_tick=tick)
    finally:
        runner.stop()
        src.close()
    assert killed, lines
    restarted = tmp_path / "take.restart1.mp4"
    assert any("recorder restarts with {'path': '" + str(restarted) + "'}" in ln for ln in lines), lines
    first, second = decode_mp4(str(out)), decode_mp4(str(restarted))
    # Up to ~1 s is lost by design (the fragment in progress); on a loaded machine the encoder
    # may also trail the subscription by a few frames (seen: 29 lost at load 8 on 2 cores).
    assert len(first["frames"]) >= killed[0] - 40, (len(first["frames"]), killed)
    assert len(second["frames"]) >= 50, len(second["frames"])

"""`avatar launch` runs the whole node graph as separate processes over real DDS.

An rclpy client that is not part of the package watches /avatar/state and
/avatar/image while the graph speaks an espeak-ng sentence, records it to MP4,
and exits 0 after --duration. The frame generator runs a tiny random model here
(speed and plumbing, not looks); the trained model's behaviour is checked by
`avatar eval` (MODEL_CARD.md).
"""
import subprocess
import sys
import time

import av
import numpy as np
import pytest
import yaml

from engine_fixtures import save_portrait, save_tiny_checkpoint
from ros_helpers import make_executor, spin_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]
REPO_CONFIG = __import__("pathlib").Path(__file__).resolve().parents[1] / "config" / "avatar.yaml"
DURATION = 20.0


@pytest.fixture
def graph_files(tmp_path):
    speech = tmp_path / "speech.wav"
    # ~1 s of silence, then speech, then silence again: states go idle -> speaking -> idle.
    text = "Hello! I am the avatar, and I am speaking to you right now, in a calm voice."
    subprocess.run(["espeak-ng", "-g", "4", "-w", str(speech), text], check=True)
    config = yaml.safe_load(REPO_CONFIG.read_text())
    config["frame_generator"]["ros__parameters"].update(
        checkpoint=save_tiny_checkpoint(tmp_path / "tiny.safetensors"), size=64, dtype="fp32",
        renderer="diffusion", framing="whole", portrait=save_portrait(tmp_path / "face.png"))
    path = tmp_path / "avatar.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"speech": speech, "config": path, "out": tmp_path / "out.mp4"}


def _log_time(text: str, needle: str) -> float:
    """The wall-clock time of the ROS log line holding ``needle``: "[INFO] [1795343308.379] [node]: ..."."""
    line = next(ln for ln in text.splitlines() if needle in ln)
    return float(line.split("] [", 1)[1].split("]", 1)[0])


def test_launch_graph_end_to_end(graph_files, rclpy_context):
    import rclpy
    from sensor_msgs.msg import Image

    from avatar.msg import AvatarState
    from avatar.nodes.toolkit import QOS

    probe = rclpy.create_node("outside_client", context=rclpy_context)
    states, images = [], []
    probe.create_subscription(AvatarState, "/avatar/state", lambda m: states.append(m.state), QOS.state)
    stamps = []

    wall = []                                            # arrival, wall clock (as in ROS log lines)

    def on_image(msg):
        images.append(time.monotonic())
        wall.append(time.time())
        stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
    probe.create_subscription(Image, "/avatar/image", on_image, QOS.image)
    executor = make_executor(rclpy_context, probe)
    t0 = time.monotonic()
    log = graph_files["out"].with_suffix(".log")
    with log.open("w") as err:
        launch = subprocess.Popen([sys.executable, "-m", "avatar.cli.main", "launch", "--config",
                                   str(graph_files["config"]), "--speech", str(graph_files["speech"]),
                                   "--display", "none", "--record", str(graph_files["out"]),
                                   "--duration", str(DURATION)], stderr=err)
    try:
        spin_until(executor, lambda: launch.poll() is not None, DURATION + 60)
    finally:
        if launch.poll() is None:
            launch.kill()
        probe.destroy_node()
    assert launch.returncode == 0, log.read_text()[-3000:]
    assert time.monotonic() - t0 < DURATION + 45
    assert AvatarState.SPEAKING in states and AvatarState.IDLE in states, set(states)
    assert len(images) >= 100, f"only {len(images)} frames seen"
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "frame stamps must increase"
    steady = [t for t in images if t > images[0] + 2.0]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    print(f"\n[bench] /avatar/image seen by an outside client: {rate:.1f} FPS")
    assert rate >= 20, f"only {rate:.1f} FPS of frames"
    with av.open(str(graph_files["out"])) as c:
        n_frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(graph_files["out"])) as c:
        audio_s = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate
    # The generator publishes idle frames from the moment its model is loaded; the recorder
    # can only record from the moment its own subscription has matched (seen in CI 2.3 s
    # later than this client, which subscribed before the launch). From then on it must
    # hold every frame the client saw, up to the few in flight at the stop.
    matched = _log_time(log.read_text(), "[recorder]: /avatar/image: 1 publisher(s) matched")
    seen = sum(1 for t in wall if t >= matched)
    assert n_frames >= seen - 5, (n_frames, seen, len(images))
    # At the stop, speech audio has arrived up to ~one audio-to-frame latency (<= 0.3 s target)
    # beyond the last generated frame; AAC decoding adds up to 1023 samples.
    assert abs(audio_s - n_frames / 25) < 0.5, (audio_s, n_frames / 25)

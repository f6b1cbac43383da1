"""frame_generator with real rclpy: frames at 25 FPS with monotonic audio-time
stamps, speech audio accepted, bad input dropped, diagnostics published."""
import subprocess
import sys
import time

import numpy as np
import pytest

from engine_fixtures import save_portrait, save_tiny_checkpoint, save_tiny_motion_checkpoint
from ros_helpers import make_executor, node_matched, spin_until

pytestmark = pytest.mark.ros


def test_frames_flow_with_audio_time_stamps(tmp_path, rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from avatar.msg import AudioChunk, AvatarState, ExpressionControl
    from avatar.nodes.toolkit import QOS

    ckpt = save_tiny_checkpoint(tmp_path / "tiny.safetensors")
    face = save_portrait(tmp_path / "face.png")
    motion = save_tiny_motion_checkpoint(tmp_path / "motion.safetensors")   # the shipped one is not in the repo
    log = tmp_path / "frame_generator.log"
    with log.open("w") as out:
        node = subprocess.Popen([sys.executable, "-m", "avatar.nodes.frame_generator", "--ros-args",
                                 "-p", f"checkpoint:={ckpt}", "-p", f"portrait:={face}", "-p", "size:=64",
                                 "-p", "renderer:=diffusion", "-p", "framing:=whole",
                                 "-p", "dtype:=fp32", "-p", f"motion_checkpoint:={motion}"],
                                stdout=out, stderr=subprocess.STDOUT)
    probe = rclpy.create_node("probe", context=rclpy_context)
    images, diags = [], []
    probe.create_subscription(Image, "/avatar/image", lambda m: images.append((m, time.monotonic())), QOS.image)
    probe.create_subscription(DiagnosticArray, "/diagnostics", diags.append, QOS.diagnostics)
    audio_pub = probe.create_publisher(AudioChunk, "/avatar/speech/audio", QOS.audio)
    state_pub = probe.create_publisher(AvatarState, "/avatar/state", QOS.state)
    expression_pub = probe.create_publisher(ExpressionControl, "/avatar/expression", QOS.expression)
    executor = make_executor(rclpy_context, probe)
    try:
        assert spin_until(executor, lambda: len(images) >= 5, 60), "no frames from frame_generator"
        assert spin_until(executor, lambda: node_matched(log, ["/avatar/state", "/avatar/speech/audio",
                                                               "/avatar/expression"]), 20), \
            log.read_text()
        # Bad inputs first: they must be dropped without stopping the stream.
        state_pub.publish(AvatarState(state=7))
        audio_pub.publish(AudioChunk(sample_rate=0, channels=1, samples=[1, 2, 3]))
        expression_pub.publish(ExpressionControl(names=["smile"], values=[5.0]))     # clamped, with a warning
        rng = np.random.default_rng(0)
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            now = probe.get_clock().now()
            msg = AudioChunk(sample_rate=16000, channels=1,
                             samples=(rng.standard_normal(320) * 3000).astype(np.int16))
            msg.header.stamp = now.to_msg()
            audio_pub.publish(msg)
            executor.spin_once(timeout_sec=0.02)
        n_before = len(images)
        assert spin_until(executor, lambda: len(images) >= n_before + 25, 10)
        assert node.poll() is None, "frame_generator died"
    finally:
        node.send_signal(2)
        code = node.wait(timeout=20)
        probe.destroy_node()
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m, _ in images]
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "stamps must increase"
    steps = np.diff(stamps)
    assert np.allclose(steps[steps < 0.05], 0.04, atol=1e-6)
    m = images[-1][0]
    assert (m.width, m.height, m.encoding, m.step) == (64, 64, "rgb8", 192)
    span = images[-1][1] - images[0][1]
    print(f"\n[bench] frame_generator (tiny 64px model): {(len(images) - 1) / span:.1f} FPS received")
    assert code == 0
    assert "smile=5.0 is outside [0, 1]: clamped to 1" in log.read_text()
    keys = {kv.key for arr in diags for s in arr.status if "frame_generator" in s.name for kv in s.values}
    assert {"frames_hz", "audio_to_frame_ms_p50", "dropped_inputs_total"} <= keys, keys

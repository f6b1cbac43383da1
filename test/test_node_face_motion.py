"""frame_generator on a real photo with the default path (motion generator + warp renderer):
/avatar/face_motion carries the motion with the frames' stamps, speech opens the jaw, and a
portrait without a face is refused by the parameter service while the old face stays."""
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import skimage.data

from ros_helpers import make_executor, spin_until

pytestmark = pytest.mark.ros


def _speech_chunks(seconds: float) -> np.ndarray:
    """espeak-ng speech at 16 kHz, int16."""
    from avatar.model_runtime.corpus import speech

    params = speech.sample_params(np.random.default_rng(3), "test")
    utt = speech.speak("Hello there, I am the robot at the front desk. How can I help you today?", params,
                       peak=0.7)
    wave = np.tile(utt.wave, int(np.ceil(seconds * 16000 / len(utt.wave))))[:int(seconds * 16000)]
    return (wave * 32767).astype(np.int16)


def test_face_motion_follows_speech_and_bad_portraits_are_refused(tmp_path, rclpy_context):
    import rclpy
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from sensor_msgs.msg import Image

    from avatar.core import face_motion as fm
    from avatar.msg import AudioChunk, AvatarState, FaceMotion
    from avatar.nodes.toolkit import QOS

    face, cat = tmp_path / "astronaut.png", tmp_path / "cat.png"
    cv2.imwrite(str(face), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(cat), cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR))
    log = tmp_path / "frame_generator.log"
    with log.open("w") as out:
        node = subprocess.Popen([sys.executable, "-m", "avatar.nodes.frame_generator", "--ros-args",
                                 "-p", f"portrait:={face}", "-p", "size:=256", "-p", "max_side:=512"],
                                stdout=out, stderr=subprocess.STDOUT)
    probe = rclpy.create_node("probe", context=rclpy_context)
    images, motions = [], []
    probe.create_subscription(Image, "/avatar/image", images.append, QOS.image)
    probe.create_subscription(FaceMotion, "/avatar/face_motion", motions.append, QOS.image)
    audio_pub = probe.create_publisher(AudioChunk, "/avatar/speech/audio", QOS.audio)
    state_pub = probe.create_publisher(AvatarState, "/avatar/state", QOS.state)
    params = probe.create_client(SetParameters, "/frame_generator/set_parameters")
    executor = make_executor(rclpy_context, probe)
    try:
        assert spin_until(executor, lambda: len(motions) >= 10 and len(images) >= 10, 120), log.read_text()
        assert (images[-1].width, images[-1].height) == (512, 512)         # the whole photo, not a crop
        assert list(motions[-1].names) == list(fm.NAMES)
        quiet = len(motions)
        # Speak for 4 s: the state says speaking, audio streams in real time.
        wave = _speech_chunks(4.0)
        t0 = probe.get_clock().now()
        state = AvatarState(state=AvatarState.SPEAKING)
        state.header.stamp = t0.to_msg()
        state_pub.publish(state)
        start = time.monotonic()
        for k in range(len(wave) // 320):
            msg = AudioChunk(sample_rate=16000, channels=1, samples=wave[k * 320:(k + 1) * 320])
            msg.header.stamp = (t0 + rclpy.duration.Duration(nanoseconds=k * 20_000_000)).to_msg()
            audio_pub.publish(msg)
            while time.monotonic() < start + (k + 1) * 0.02:
                executor.spin_once(timeout_sec=0.005)
        assert spin_until(executor, lambda: len(motions) >= quiet + 100, 30)
        jaw = np.array([m.values[fm.INDEX["jawOpen"]] for m in motions])
        speaking = jaw[quiet + 10:quiet + 90]
        assert speaking.max() > 0.2 and speaking.std() > 0.05, speaking      # the mouth moves with speech
        assert jaw[:quiet].max() < 0.5 * speaking.max()                       # and far less before
        stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in images}
        assert sum((m.header.stamp.sec, m.header.stamp.nanosec) in stamps for m in motions) >= len(motions) - 5

        # A portrait with no face is refused with a reason; the node keeps drawing the old face.
        assert params.wait_for_service(timeout_sec=20)
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(cat))
        future = params.call_async(SetParameters.Request(parameters=[Parameter(name="portrait", value=value)]))
        assert spin_until(executor, future.done, 60)
        result = future.result().results[0]
        assert not result.successful and "no face" in result.reason, result.reason
        n = len(images)
        assert spin_until(executor, lambda: len(images) >= n + 10, 30)
        assert (images[-1].width, images[-1].height) == (512, 512)
        assert node.poll() is None, "frame_generator died"
    finally:
        node.send_signal(2)
        code = node.wait(timeout=30)
        probe.destroy_node()
    assert code == 0, log.read_text()

"""A minimal dialogue node for avatar: says one TTS utterance with an expression.

Run it next to the avatar graph (`avatar launch --display web` or `ros2 launch avatar
avatar.launch.py`):

    python docs/examples/dialogue_node.py reply.wav --expression happy

A real dialogue system would get ``pcm`` from its TTS engine instead of a WAV file. What the
avatar needs (docs/ROS.md, docs/AUDIO_AND_STATE.md):
* the voice as avatar/AudioChunk on /avatar/speech/audio: int16 samples, 16 kHz mono,
  header.stamp = when the first sample will be heard, sent in real time (20 ms chunks here);
* expressions as avatar/Expression (ROS4HRI fields) on /robot_face/expression.
SPEAKING/IDLE is derived from the audio by vad_state; nothing else has to be sent.
"""
import argparse
import sys

import numpy as np
import rclpy
import soundfile
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from avatar.core.audio_io import CHUNK_SAMPLES as CHUNK     # 20 ms
from avatar.core.timebase import SAMPLE_RATE as RATE         # 16 kHz: the avatar's one audio rate
from avatar.msg import AudioChunk, Expression


class DialogueNode(Node):
    def __init__(self, pcm: np.ndarray, expression: str):
        super().__init__("dialogue")
        self._speech = self.create_publisher(AudioChunk, "/avatar/speech/audio",
                                             QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        self._mood = self.create_publisher(Expression, "/robot_face/expression", QoSProfile(depth=10))
        self._pcm, self._expression = pcm, expression
        self._next = 0
        self._t0 = None
        self.done = False
        # Reliable publishers drop what they send before a subscriber matched: wait for one.
        self._timer = self.create_timer(CHUNK / RATE, self._tick)

    def _tick(self) -> None:
        if self._t0 is None:
            if self._speech.get_subscription_count() == 0:
                return
            self._mood.publish(Expression(expression=self._expression, confidence=1.0))
            self._t0 = self.get_clock().now() + Duration(seconds=0.1)   # heard 100 ms from now
        start = self._next * CHUNK
        if start >= len(self._pcm):
            self._mood.publish(Expression(expression=Expression.NEUTRAL, confidence=1.0))
            self._timer.cancel()
            self.done = True
            return
        msg = AudioChunk(sample_rate=RATE, channels=1, samples=self._pcm[start:start + CHUNK])
        msg.header.stamp = (self._t0 + Duration(nanoseconds=self._next * CHUNK * 1_000_000_000 // RATE)).to_msg()
        msg.header.frame_id = "robot_voice"
        self._speech.publish(msg)
        self._next += 1


def load_pcm(path: str) -> np.ndarray:
    """(N,) int16 mono at 16 kHz (what a TTS would hand over)."""
    audio, rate = soundfile.read(path, dtype="int16", always_2d=True)
    if rate != RATE:
        raise SystemExit(f"{path}: {rate} Hz; this example expects {RATE} Hz (resample it first)")
    return audio.mean(axis=1).astype(np.int16)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav", help="16 kHz speech to say")
    parser.add_argument("--expression", default=Expression.HAPPY, help="a named expression while speaking")
    args, ros_args = parser.parse_known_args(argv)
    rclpy.init(args=ros_args)
    node = DialogueNode(load_pcm(args.wav), args.expression)
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

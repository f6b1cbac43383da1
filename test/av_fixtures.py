"""Shared helpers for the output-side tests (media, recorder, display): synthetic frames
that carry their index, decoding helpers, and a real-rclpy publisher of frames and audio."""
import os
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np
from ros_helpers import node_matched

from avatar.core.timebase import FPS
from avatar.core.timebase import SAMPLE_RATE as RATE
from avatar.core.timebase import SAMPLES_PER_FRAME as SPF

SIZE = 128


def synthetic_frame(index: int, size: int = SIZE) -> np.ndarray:
    """A cartoon face on a coloured background, with ``index`` as 8 black/white bars at the top."""
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (40, 90, 160)
    c, r = size // 2, size * 3 // 8
    cv2.circle(img, (c, c + size // 16), r, (235, 190, 150), -1)           # face
    for dx in (-r // 2, r // 2):
        cv2.circle(img, (c + dx, c - r // 6), max(2, r // 8), (30, 30, 30), -1)   # eyes
    mouth_h = 2 + (index % 5) * max(1, r // 12)                               # the mouth moves
    cv2.ellipse(img, (c, c + r // 2), (r // 3, mouth_h), 0, 0, 360, (120, 20, 40), -1)
    bar = size // 8
    for bit in range(8):
        img[:bar // 2, bit * bar:(bit + 1) * bar] = 255 if (index >> bit) & 1 else 0
    return img


def decode_index(rgb: np.ndarray) -> int:
    size = rgb.shape[1]
    bar = size // 8
    row = rgb[: bar // 4 + 1].mean(axis=(0, 2))   # (W,)
    return sum(1 << bit for bit in range(8) if row[bit * bar + bar // 2] > 127)


def click_track(n_samples: int, clicks_s: list[float], rate: int = RATE) -> np.ndarray:
    """int16 silence with a 10 ms 1 kHz burst starting at each time in ``clicks_s``."""
    out = np.zeros(n_samples, np.int16)
    burst = (np.sin(2 * np.pi * 1000 * np.arange(rate // 100) / rate) * 20000).astype(np.int16)
    for t in clicks_s:
        i = round(t * rate)
        out[i:i + burst.size] = burst[: max(0, min(burst.size, n_samples - i))]
    return out


def onsets_s(samples: np.ndarray, rate: int = RATE, threshold: float = 0.2) -> list[float]:
    """Start times of bursts: first sample over ``threshold`` after >= 50 ms of quiet."""
    loud = np.flatnonzero(np.abs(samples) > threshold * np.abs(samples).max())
    out, last = [], -10 ** 9
    for i in loud:
        if i - last > rate // 20:
            out.append(i / rate)
        last = i
    return out


def decode_mp4(path: str) -> dict:
    """Decode everything with PyAV: video frames, audio samples, stream durations."""
    with av.open(path) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        info = {"video_duration": float(v.duration * v.time_base), "audio_duration": float(a.duration * a.time_base),
                "fps": float(v.average_rate), "width": v.width, "height": v.height}
        info["frames"] = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(path) as c:
        info["audio"] = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return info


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_display() -> int:
    for n in random.sample(range(90, 400), 50):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    raise RuntimeError("no free X display number")


@contextmanager
def xvfb(width: int = 640, height: int = 480):
    """A private Xvfb; yields its DISPLAY string."""
    n = free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(5)


def grab_screen(display: str, width: int, height: int) -> np.ndarray:
    """Screenshot of an X display as RGB (H, W, 3), with ffmpeg's x11grab."""
    out = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "x11grab", "-video_size", f"{width}x{height}",
                          "-i", display, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True, timeout=30).stdout
    return np.frombuffer(out, np.uint8).reshape(height, width, 3)


def ros_env(**extra) -> dict:
    """Environment for a node subprocess: a private DDS domain on localhost."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(random.randint(1, 100)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def ros_setup(monkeypatch) -> dict:
    """Environment for one test's nodes (also applied to this process, for the Source).
    Test modules wrap it in a ``ros`` fixture."""
    env = ros_env()
    monkeypatch.setenv("ROS_DOMAIN_ID", env["ROS_DOMAIN_ID"])
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return env


def start_node(module: str, params: dict, env: dict, log_path) -> subprocess.Popen:
    args = [sys.executable, "-m", f"avatar.nodes.{module}", "--ros-args"]
    for k, v in params.items():
        args += ["-p", f"{k}:={v}"]
    with open(log_path, "w") as log:   # the child keeps its own descriptor
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_node(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 20.0) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout)


class Source:
    """Publishes synthetic frames, speech audio and state with real rclpy (in-process)."""

    def __init__(self, env: dict, audio_rate: int = RATE):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image

        from avatar.msg import AudioChunk, AvatarState
        from avatar.nodes.toolkit import QOS
        self._rclpy = rclpy
        self.audio_rate = audio_rate   # a multiple of RATE: chunks are upsampled by repetition
        # The discovery range is read from the environment: the ``ros`` fixture sets it.
        self.context = Context()
        rclpy.init(context=self.context, domain_id=int(env["ROS_DOMAIN_ID"]))
        self.node = rclpy.create_node("test_source", context=self.context)
        self.Image, self.AudioChunk, self.AvatarState = Image, AudioChunk, AvatarState
        self.image_pub = self.node.create_publisher(Image, "/avatar/image", QOS.image)
        self.audio_pub = self.node.create_publisher(AudioChunk, "/avatar/speech/audio", QOS.audio)
        self.state_pub = self.node.create_publisher(AvatarState, "/avatar/state", QOS.state)
        self.diagnostics: dict[str, dict[str, str]] = {}       # status name -> latest values
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, QOS.diagnostics)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    def wait_for_total(self, node: str, key: str, count: int, timeout: float = 15.0) -> bool:
        """Until the node's /diagnostics report ``<key>_total`` >= count (what it has taken in),
        so that a test stops it only after everything sent has arrived. False on timeout:
        the test's own asserts then say what is missing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
            if int(self.diagnostics.get(f"avatar: {node}", {}).get(f"{key}_total", 0)) >= count:
                return True
        return False

    def wait_for_subscribers(self, timeout: float = 30.0, proc: subprocess.Popen | None = None,
                             state: bool = False, log: Path | None = None) -> None:
        """Until every publisher has matched the node's subscription. Matching happens on both
        sides separately, and a reliable reader drops samples from a writer it has not matched
        yet: with ``log``, also wait for the node's own "publisher(s) matched" line per topic."""
        pubs = [self.image_pub, self.audio_pub] + ([self.state_pub] if state else [])
        deadline = time.monotonic() + timeout
        topics = [p.topic_name for p in pubs]
        while any(p.get_subscription_count() == 0 for p in pubs) or not (log is None or node_matched(log, topics)):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"node exited with {proc.returncode} before subscribing")
            if time.monotonic() > deadline:
                raise TimeoutError("node did not subscribe")
            time.sleep(0.05)

    @staticmethod
    def _stamp(msg, t: float) -> None:
        msg.header.stamp.sec = int(t)
        msg.header.stamp.nanosec = int(round((t - int(t)) * 1e9)) % 1_000_000_000

    def publish_frame(self, rgb: np.ndarray, stamp: float) -> None:
        msg = self.Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3)
        msg.data = rgb.tobytes()
        self._stamp(msg, stamp)
        self.image_pub.publish(msg)

    def publish_audio(self, samples: np.ndarray, stamp: float) -> None:
        msg = self.AudioChunk(sample_rate=self.audio_rate, channels=1)
        msg.samples = np.repeat(samples.astype(np.int16), self.audio_rate // RATE).tolist()
        self._stamp(msg, stamp)
        self.audio_pub.publish(msg)

    def publish_state(self, state: int, stamp: float) -> None:
        msg = self.AvatarState(state=state, confidence=1.0)
        self._stamp(msg, stamp)
        self.state_pub.publish(msg)

    def stream(self, seconds: float, t0: float, audio: np.ndarray, frame_fn=synthetic_frame,
               latency_s: float = 0.0, on_tick=None) -> int:
        """Real-time paced: one 20 ms audio chunk per tick and a frame every 40 ms. Frames are
        published ``latency_s`` after their stamp, as a frame generator would. Returns frames sent."""
        n_frames = int(round(seconds * FPS))
        chunk = SPF // 2
        start = time.monotonic()
        sent = 0
        for k in range(2 * n_frames):
            due = start + k * chunk / RATE
            time.sleep(max(0.0, due - time.monotonic()))
            self.publish_audio(audio[k * chunk:(k + 1) * chunk], t0 + k * chunk / RATE)
            f = k // 2 - round(latency_s * FPS)
            if k % 2 == 0 and 0 <= f < n_frames:
                self.publish_frame(frame_fn(f), t0 + f / FPS)
                sent += 1
            if on_tick is not None and on_tick(k):
                break
        return sent

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.shutdown(context=self.context)

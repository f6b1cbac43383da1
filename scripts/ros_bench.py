"""Helper of bench_vad.py: play dialogues in real time into a real vad_state process and record its states."""
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from avatar.core.audio_io import save_wav
from avatar.core.audio_sources import ChunkPump, file_source
from avatar.core.timebase import SAMPLE_RATE
from avatar.core.vad_eval import Dialogue


def run_live_dialogues(dialogues: list[Dialogue], tmp: Path) -> list[dict]:
    """Per dialogue: {"states": [(arrival, header stamp, state)], "base": wall time of the first sample,
    "publish_lag": [s a chunk went out after its last sample was due]}."""
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(101, 200))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from avatar.msg import AudioChunk, AvatarState
    from avatar.nodes.audio_msg import chunk_to_msg
    from avatar.nodes.toolkit import QOS
    proc = subprocess.Popen([sys.executable, "-m", "avatar.nodes.vad_state"], stderr=subprocess.PIPE, text=True)
    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("bench_probe", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    arrivals: list[tuple[float, int]] = []
    node.create_subscription(AvatarState, "/avatar/state", lambda m: arrivals.append(
        (time.time(), m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, m.state)), QOS.state)
    pubs = [node.create_publisher(AudioChunk, f"/avatar/{c}/audio", QOS.audio) for c in ("speech", "user")]
    results = []
    try:
        deadline = time.time() + 90
        while not (arrivals and all(p.get_subscription_count() for p in pubs)):
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("vad_state did not come up")
            executor.spin_once(timeout_sec=0.1)
        for i, d in enumerate(dialogues):
            results.append(_play(executor, pubs, d, tmp, i, arrivals, chunk_to_msg))
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        proc.terminate()
        proc.wait(timeout=20)
    return results


def _play(executor, pubs, d: Dialogue, tmp: Path, i: int, arrivals, to_msg):
    paths = [tmp / f"speech{i}.wav", tmp / f"user{i}.wav"]
    save_wav(paths[0], d.speech)
    save_wav(paths[1], d.user)
    first: list[float] = []
    lag: list[float] = []

    def publisher(k):
        def publish(chunk):
            if k == 0 and not first:
                first.append(chunk.stamp)
            lag.append(time.time() - (chunk.stamp + len(chunk.samples) / SAMPLE_RATE))
            pubs[k].publish(to_msg(chunk))
        return publish
    n0 = len(arrivals)
    pumps = [ChunkPump(lambda p=p: file_source(str(p), time.time), publisher(k), print).start()
             for k, p in enumerate(paths)]
    end = time.time() + d.duration + 1.0
    while time.time() < end:
        executor.spin_once(timeout_sec=0.05)
    for pump in pumps:
        pump.stop()
    settle = time.time() + 1.5           # let both channels go stale before the next dialogue
    while time.time() < settle:
        executor.spin_once(timeout_sec=0.05)
    return {"states": arrivals[n0:], "base": first[0], "publish_lag": lag}


__all__ = ["run_live_dialogues"]

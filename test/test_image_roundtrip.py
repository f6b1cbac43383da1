"""A 512x512 rgb8 Image stream crosses processes at >= 30 Hz without corruption.

The rate is printed as a benchmark figure; the test asserts delivery and
content, not timing, so a loaded CI machine does not make it flaky.
"""
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ros_helpers import make_executor, spin_until

pytestmark = pytest.mark.ros

PUBLISHER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import rclpy
    from sensor_msgs.msg import Image
    from avatar.nodes.toolkit import QOS
    rclpy.init()
    node = rclpy.create_node("image_publisher")
    pub = node.create_publisher(Image, "/test/image", QOS.image)
    while pub.get_subscription_count() == 0:
        time.sleep(0.01)
    n, period = int(sys.argv[1]), 1.0 / 30.0
    start = time.monotonic()
    for i in range(n):
        img = np.full((512, 512, 3), i % 256, np.uint8)
        img[0, 0] = (i // 256, i % 256, 7)
        msg = Image(height=512, width=512, encoding="rgb8", step=512 * 3, data=img.tobytes())
        msg.header.frame_id = str(i)
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        # Deadline pacing: publish on a 30 Hz grid, not after a fixed nap.
        delay = start + (i + 1) * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()
""")


def test_512_image_stream_is_delivered(rclpy_context):
    import rclpy
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import Image

    from avatar.nodes.toolkit import QOS

    n = 90
    node = rclpy.create_node("image_subscriber", context=rclpy_context)
    arrivals, bad = [], []

    def on_image(msg):
        img = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
        i = int(msg.header.frame_id)
        if img[1, 1, 0] != i % 256 or tuple(img[0, 0]) != (i // 256, i % 256, 7):
            bad.append(i)
        arrivals.append((i, time.monotonic()))

    # A queue as deep as the stream: a stall in this process must not overwrite frames.
    deep = QoSProfile(depth=n, reliability=QOS.image.reliability, history=QOS.image.history)
    node.create_subscription(Image, "/test/image", on_image, deep)
    child = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(n)])
    try:
        spin_until(make_executor(rclpy_context, node), lambda: bool(arrivals) and arrivals[-1][0] == n - 1,
                   timeout_s=30)
    finally:
        child.wait(timeout=15)
        node.destroy_node()
    assert not bad, f"corrupted frames: {bad[:5]}"
    ids = [i for i, _ in arrivals]
    assert ids == sorted(set(ids)), f"frames out of order or repeated: {ids}"
    # The publisher starts once it has matched us, which can be a frame before our reader has
    # matched it (discovery runs on each side), and its reliable queue is QOS.image's 5 deep:
    # a process stalled for longer than that on a loaded machine loses frames.
    assert len(ids) >= n - 3, f"only {len(ids)}/{n} frames delivered: {ids}"
    span = arrivals[-1][1] - arrivals[0][1]
    print(f"\n[bench] 512x512 rgb8 Image between processes: {(len(ids) - 1) / span:.1f} Hz received "
          f"(publisher paced at 30 Hz)")

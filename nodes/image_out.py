"""Image output helpers for the nodes that publish frames.

* :class:`CompressedImageOut` publishes ``<image topic>/compressed`` (sensor_msgs/CompressedImage)
  the way image_transport's ``compressed`` plugin does (Python nodes on Humble/Jazzy have no
  image_transport): the topic is the *resolved* raw topic plus ``/compressed``, so it follows a
  remapped image topic; ``format`` is ``"rgb8; jpeg compressed bgr8"``; the header is the raw
  frame's. Frames are encoded on :class:`~avatar.core.jpeg_encoder.JpegEncoder`'s thread, so the
  raw frame is published without waiting for it.
* :func:`use_large_message_transport` gives a process that publishes raw frames a Fast DDS
  shared-memory segment large enough for them (see ``fastdds_large_images.xml`` for why).
"""
import os
from collections.abc import Callable, MutableMapping
from pathlib import Path

import numpy as np
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from avatar.core.jpeg_encoder import JPEG_QUALITY, QUEUE_DEPTH, JpegEncoder
from avatar.nodes.toolkit import QOS, AvatarNode, Param

COMPRESSED_FORMAT = "rgb8; jpeg compressed bgr8"
LARGE_MESSAGE_PROFILE = Path(__file__).with_name("fastdds_large_images.xml")
# Any of these means the user configured Fast DDS themselves: leave it to them.
_FASTDDS_SETTINGS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS",
                     "RMW_FASTRTPS_USE_QOS_FROM_XML")

JPEG_QUALITY_PARAM = Param("jpeg_quality", JPEG_QUALITY, "JPEG quality of <image topic>/compressed", range=(10, 100))


def compressed_topic(node: AvatarNode, image_topic: str) -> str:
    """image_transport's name for the compressed stream of ``image_topic`` (after remapping)."""
    return node.resolve_topic_name(image_topic).rstrip("/") + "/compressed"


class CompressedImageOut:
    """``submit(header, rgb)`` after publishing the raw frame; the JPEG follows on its own thread.

    ``depth``: frames waiting for the encoder before the oldest is dropped. A producer that
    emits frames in bursts (the engine emits a clip at a time) needs at least a burst."""

    def __init__(self, node: AvatarNode, image_topic: str, quality: int = JPEG_QUALITY,
                 on_jpeg: Callable[[Header, bytes], None] | None = None, depth: int = QUEUE_DEPTH):
        self.topic = compressed_topic(node, image_topic)
        self._node = node
        self._on_jpeg = on_jpeg
        self._pub = node.create_publisher(CompressedImage, self.topic, QOS.image)
        self.encoder = JpegEncoder(self._publish, quality, depth=depth, on_error=self._failed)

    def submit(self, header: Header, rgb: np.ndarray) -> None:
        """``rgb`` (H, W, 3) uint8 must not change afterwards (the encoder reads it later).
        Nothing is encoded while no one subscribes (as image_transport publishers do)."""
        if self._on_jpeg is None and self._pub.get_subscription_count() == 0:
            return
        self.encoder.submit(Header(stamp=header.stamp, frame_id=header.frame_id), rgb)

    def set_quality(self, quality: int) -> None:
        self.encoder.quality = quality

    def _publish(self, header: Header, jpeg: bytes) -> None:
        self._pub.publish(CompressedImage(header=header, format=COMPRESSED_FORMAT, data=jpeg))
        self._node.diag.tick("compressed_frames")
        self._node.diag.set("compressed_dropped", self.encoder.dropped)
        if self._on_jpeg is not None:
            self._on_jpeg(header, jpeg)

    def _failed(self, err: Exception) -> None:
        self._node.diag.count("compressed_errors")
        self._node.get_logger().error(f"{self.topic}: {type(err).__name__}: {err}", throttle_duration_sec=1.0)

    def close(self) -> None:
        self.encoder.stop()
        self._node.destroy_publisher(self._pub)


def use_large_message_transport(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Before ``rclpy.init``: point Fast DDS at ``fastdds_large_images.xml`` unless another RMW
    or the user's own Fast DDS configuration is in use. Returns the profile path, or None."""
    if environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return None
    if any(environ.get(name) for name in _FASTDDS_SETTINGS):
        return None
    environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(LARGE_MESSAGE_PROFILE)
    return str(LARGE_MESSAGE_PROFILE)

"""recorder: writes /avatar/image + /avatar/speech/audio to an MP4 (H.264 + AAC), or the
image, speech and state topics to a rosbag2 MCAP bag. SIGINT/SIGTERM finish the file; the MP4
is fragmented (a fragment a second), so even a SIGKILL leaves a playable file. An existing
file is never replaced unless ``overwrite`` is true."""
import os
import sys
from pathlib import Path

from rclpy.qos import HistoryPolicy, QoSProfile
from sensor_msgs.msg import Image

from avatar.core.audio_io import StreamResampler
from avatar.core.errors import AvatarError
from avatar.core.image_io import rgb_from_image
from avatar.core.output_file import OVERWRITE_DEFAULT, check_writable
from avatar.core.recording import StampedMp4Recorder, TimelineConfig
from avatar.core.timebase import FPS, SAMPLE_RATE
from avatar.msg import AudioChunk, AvatarState
from avatar.nodes.audio_msg import from_stamp, msg_to_mono
from avatar.nodes.bag import McapBag, typestore_with_msgs
from avatar.nodes.toolkit import AUDIO_RELIABILITY, MAX_CHUNK, QOS, AvatarNode, Param, run_node



def _deep(profile: QoSProfile, seconds: float, rate_hz: float) -> QoSProfile:
    """The standard profile with a longer subscriber queue: a recorder must not lose
    messages while Python is busy (a display would rather skip to the newest)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(seconds * rate_hz),
                      reliability=profile.reliability)


IMAGE_QOS = _deep(QOS.image, 4.0, FPS)
AUDIO_QOS = _deep(QOS.audio, 4.0, 50)

# topic -> (message class, rosbags type name, QoS); names are remappable with --ros-args -r.
MCAP_TOPICS = {
    "/avatar/image": (Image, "sensor_msgs/msg/Image", IMAGE_QOS),
    "/avatar/speech/audio": (AudioChunk, "avatar/msg/AudioChunk", AUDIO_QOS),
    "/avatar/state": (AvatarState, "avatar/msg/AvatarState", QOS.state),
}


class Recorder(AvatarNode):
    PARAMS = (
        AUDIO_RELIABILITY,
        MAX_CHUNK,
        Param("path", "", "output: an .mp4 file, or a rosbag2 directory for mcap", read_only=True),
        Param("format", "auto", "auto = mp4 for *.mp4 paths, else mcap", choices=("auto", "mp4", "mcap"),
              read_only=True),
        Param("overwrite", OVERWRITE_DEFAULT, "replace an existing MP4 (bags are never overwritten)",
              read_only=True),
        Param("fps", FPS, "MP4 frame rate", range=(1, 120), read_only=True),
        Param("sample_rate", SAMPLE_RATE, "MP4 audio sample rate (speech chunks must match)",
              range=(8000, 48000), read_only=True),
        Param("crf", 18, "MP4 H.264 quality (lower = better, larger)", range=(0, 51), read_only=True),
    )

    def __init__(self):
        super().__init__("recorder")
        path = self.param("path")
        if not path:
            raise AvatarError("recorder: set the output with -p path:=OUT.mp4 (or a bag directory)")
        fmt = self.param("format")
        self.format = fmt if fmt != "auto" else ("mp4" if path.lower().endswith(".mp4") else "mcap")
        self.path = str(Path(path).expanduser().resolve())
        parent = Path(self.path).parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise AvatarError(f"recorder: cannot write into {parent}")
        self.mp4: StampedMp4Recorder | None = None
        self.bag: McapBag | None = None
        if self.format == "mp4":
            self._setup_mp4()
        else:
            self._setup_mcap()
        self.get_logger().info(f"recording {self.format} to {self.path}")

    def _setup_mp4(self) -> None:
        check_writable(self.path, self.param("overwrite"))
        cfg = TimelineConfig(fps=self.param("fps"), sample_rate=self.param("sample_rate"))
        # Fragmented: what was recorded up to about a second before a crash stays playable.
        self.mp4 = StampedMp4Recorder(self.path, cfg, crf=self.param("crf"), fragmented=True)
        self._resampler = StreamResampler(cfg.sample_rate)
        self.subscribe(Image, "/avatar/image", self.on_image, IMAGE_QOS)
        self.subscribe(AudioChunk, "/avatar/speech/audio", self.on_audio, self.audio_qos(AUDIO_QOS.depth))

    def _setup_mcap(self) -> None:
        self.bag = McapBag(self.path, typestore_with_msgs())
        for topic, (cls, type_name, qos) in MCAP_TOPICS.items():
            # Resolved names, so that the bag shows the remapped topic.
            resolved = self.resolve_topic_name(topic)
            self.bag.add_topic(resolved, type_name)
            # raw=True: the CDR bytes go into the bag untouched, never deserialised.
            if cls is AudioChunk:
                qos = self.audio_qos(qos.depth)
            self.subscribe(cls, topic, self._raw_writer(resolved), qos, raw=True)

    def _raw_writer(self, topic: str):
        def write(cdr: bytes) -> None:
            self.bag.write(topic, self.get_clock().now().nanoseconds, cdr)
            self.diag.tick("messages")
        return write

    def on_image(self, msg: Image) -> None:
        rgb = rgb_from_image(msg.height, msg.width, msg.encoding, msg.step, msg.data)
        self.mp4.add_frame(from_stamp(msg.header.stamp), rgb)
        self.diag.tick("frames")

    def on_audio(self, msg: AudioChunk) -> None:
        self.check_chunk(msg)
        mono, rate, stamp = msg_to_mono(msg)
        # Any rate is recorded at sample_rate; stateful, so no clicks between chunks.
        self.mp4.add_audio(stamp, self._resampler.push(mono, rate))

    def close(self) -> None:
        """Finish the file; run_node calls this on SIGINT/SIGTERM."""
        log = self.get_logger()
        if self.mp4 is not None:
            n = self.mp4.frames_written
            if self.mp4.close():
                log.info(f"wrote {self.path}: {n} frames ({n / self.mp4.cfg.fps:.2f} s), {self.mp4.stats}")
            else:
                log.warning(f"no frames received: {self.path} not written")
        if self.bag is not None:
            self.bag.close()
            log.info(f"wrote bag {self.path}: {self.bag.counts}")


def main(args=None):
    return run_node(Recorder, args)


if __name__ == "__main__":
    sys.exit(main())

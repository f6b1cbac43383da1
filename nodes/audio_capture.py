"""audio_capture: the user's voice -> /avatar/user/audio (AudioChunk, 16 kHz mono int16, 20 ms).

Sources (parameter ``source``): ``mic`` / ``mic:<device name or index>`` (PortAudio),
``file:<path>`` (played in real time, optionally looped, then silence like a quiet
microphone) and ``silence``. A missing or failing microphone is logged once and
retried with backoff (a kiosk's USB microphone may be plugged in later); the node never
exits because of it. `avatar launch --mic` checks for an input device before it starts
any node, and refuses to run without one.
"""
import sys
from pathlib import Path

from avatar.core.audio_sources import ChunkPump, MicSource, file_source, parse_device, silence_source
from avatar.core.diagnostics import ERROR, OK
from avatar.msg import AudioChunk
from avatar.nodes.audio_msg import chunk_to_msg
from avatar.nodes.toolkit import QOS, AvatarNode, Param, run_node


def check_source(value: str) -> str | None:
    if value in ("mic", "silence") or value.startswith("mic:"):
        return None
    if value.startswith("file:"):
        path = value[len("file:"):]
        if not path:
            return "file: needs a path"
        return None if Path(path).is_file() else f"no such file: {path}"
    return 'expected "mic", "mic:<device>", "file:<path>" or "silence"'


class AudioCapture(AvatarNode):
    PARAMS = (
        Param("source", "silence", 'user audio: "mic", "mic:<device name or index>", "file:<path>" or "silence"',
              check=check_source),
        Param("loop", False, "file: sources play in a loop (otherwise silence follows the file)"),
        Param("frame_id", "user_mic", "header.frame_id of the published chunks"),
    )

    def __init__(self, **kwargs):
        super().__init__("audio_capture", **kwargs)
        self._pub = self.create_publisher(AudioChunk, "/avatar/user/audio", QOS.audio)
        self._pump: ChunkPump | None = None
        self._restart()

    def on_parameters_changed(self, changed) -> None:
        self._restart()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _make_source(self, spec: str, loop: bool):
        if spec.startswith("mic"):
            mic = MicSource(parse_device(spec), self._now)
            self.get_logger().info(f"capturing from '{mic.name}' at {mic.rate} Hz")
            return mic
        if spec.startswith("file:"):
            return file_source(spec[len("file:"):], self._now, loop=loop)
        return silence_source(self._now)

    def _restart(self) -> None:
        if self._pump is not None:
            self._pump.stop()
        spec, loop, frame_id = self.param("source"), self.param("loop"), self.param("frame_id")
        self.diag.set("source", spec)
        self.diag.status(OK, "ok")

        def publish(chunk):
            self._pub.publish(chunk_to_msg(chunk, frame_id))
            self.diag.tick("chunks")

        self._pump = ChunkPump(lambda: self._make_source(spec, loop), publish,
                               on_error=self._on_error, on_recover=self._on_recover).start()

    def _on_error(self, message: str) -> None:
        self.get_logger().error(f"{message}; retrying in the background")
        self.diag.status(ERROR, message)

    def _on_recover(self) -> None:
        self.get_logger().info(f"audio source {self.param('source')!r} is working again")
        self.diag.status(OK, "ok")

    def close(self) -> None:
        if self._pump is not None:
            self._pump.stop()


def main(args=None):
    return run_node(AudioCapture, args)


if __name__ == "__main__":
    sys.exit(main())

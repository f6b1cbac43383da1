"""speech_source: the avatar's voice -> /avatar/speech/audio (AudioChunk, 16 kHz mono int16, 20 ms).

Stands in for a TTS node. ``source`` is an audio file (played once or looped)
or a directory watched as a queue: files dropped there are played in name
order, back to back, and moved to ``done/`` (undecodable ones to ``failed/``).
Between utterances it sends silence (``publish_silence``), so consumers see one
continuous stream whose stamps advance with the audio. See docs/AUDIO_AND_STATE.md
for the contract any other TTS node must follow on this topic.
"""
import sys
from pathlib import Path

from avatar.core.audio_io import SAMPLE_RATE
from avatar.core.audio_sources import (LONG_INPUT_S, ChunkPump, ClipPlayer, DirectoryQueue, file_source,
                                       format_length, probe_audio)
from avatar.core.diagnostics import ERROR, OK
from avatar.core.errors import InputError
from avatar.msg import AudioChunk
from avatar.nodes.audio_msg import chunk_to_msg
from avatar.nodes.toolkit import QOS, AvatarNode, Param, run_node


def check_source(value: str) -> str | None:
    """Refused at the door (the old value stays): a missing path, or a file that does not decode as audio."""
    if not value or Path(value).is_dir():
        return None
    if not Path(value).exists():
        return f"no such file or directory: {value}"
    try:
        probe_audio(value)
    except InputError as err:
        return str(err)
    return None


class SpeechSource(AvatarNode):
    PARAMS = (
        Param("source", "", "audio file, or directory watched as a queue; empty: publish nothing",
              check=check_source),
        Param("loop", False, "play a single file in a loop"),
        Param("publish_silence", True, "send silence between utterances (one continuous stream)"),
        Param("frame_id", "avatar_voice", "header.frame_id of the published chunks"),
    )

    def __init__(self, **kwargs):
        super().__init__("speech_source", **kwargs)
        self._pub = self.create_publisher(AudioChunk, "/avatar/speech/audio", QOS.audio)
        self._pump: ChunkPump | None = None
        self.queue: DirectoryQueue | None = None
        self._restart()

    def on_parameters_changed(self, changed) -> None:
        self._restart()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _make_source(self, source: str, loop: bool, silence: bool):
        if Path(source).is_dir():
            self.queue = DirectoryQueue(source, warn=self._warn)
            return ClipPlayer(self._next_queued, self._now, fill_silence=silence)
        self.queue = None
        player = file_source(source, self._now, loop=loop, fill_silence=silence)
        self._log_length(Path(source).name, probe_audio(source))
        return player

    def _next_queued(self):
        clip = self.queue.next_clip()
        if clip is not None:
            self._log_length(self.queue.current, len(clip) / SAMPLE_RATE)
        self.diag.set("played", len(self.queue.played))
        return clip

    def _log_length(self, name: str, seconds: float) -> None:
        """Every file's length, and a warning for long ones (they play in real time)."""
        self.diag.set("current_length_s", f"{seconds:.1f}")
        if seconds > LONG_INPUT_S:
            self.get_logger().warning(f"playing {name}: {format_length(seconds)} long (plays in real time)")
        else:
            self.get_logger().info(f"playing {name} ({format_length(seconds)})")

    def _restart(self) -> None:
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        source, loop, silence = self.param("source"), self.param("loop"), self.param("publish_silence")
        frame_id = self.param("frame_id")
        self.diag.set("source", source or "(none)")
        self.diag.status(OK, "ok")
        if not source:
            return

        def publish(chunk):
            self._pub.publish(chunk_to_msg(chunk, frame_id))
            self.diag.tick("chunks")

        self._pump = ChunkPump(lambda: self._make_source(source, loop, silence), publish,
                               on_error=self._on_error, on_recover=lambda: self.diag.status(OK, "ok")).start()

    def _warn(self, message: str) -> None:
        self.get_logger().warning(message)
        self.diag.count("failed_files")

    def _on_error(self, message: str) -> None:
        self.get_logger().error(f"{message}; retrying in the background")
        self.diag.status(ERROR, message)

    def close(self) -> None:
        if self._pump is not None:
            self._pump.stop()


def main(args=None):
    return run_node(SpeechSource, args)


if __name__ == "__main__":
    sys.exit(main())

"""face_display: shows /avatar/image in a fullscreen window or a browser page, and plays
/avatar/speech/audio in sync with it (audio is the clock; see avatar.core.av_sync).

A managed node (nodes/lifecycle.py): configure opens the window or web server, the audio
output and the subscriptions; activate shows frames and plays audio; deactivate pauses (the
last frame stays, incoming frames and audio are dropped); cleanup closes everything.
With ``image_transport: compressed`` it shows ``/avatar/image/compressed`` and the web view
forwards the generator's JPEG as it is, instead of encoding every frame again."""
import sys
import time

from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage, Image

from avatar.core.audio_io import StreamResampler
from avatar.core.av_sync import (AudioBuffer, AudioOutput, DelayController, FrameQueue, PlayoutClock,
                                 PlayoutConfig, Presenter)
from avatar.core.diagnostics import ERROR, OK, WARN
from avatar.core.errors import InputError
from avatar.core.graph import DEFAULT_DISPLAY, DISPLAY_MODES
from avatar.core.jpeg_encoder import decode_jpeg, encode_jpeg
from avatar.core.image_io import rgb_from_image
from avatar.core.state_machine import State
from avatar.core.timebase import SAMPLE_RATE
from avatar.core.web_view import WebView
from avatar.core.window_view import WindowConfig, WindowSink, check_display
from avatar.msg import AudioChunk, AvatarState
from avatar.nodes.audio_msg import from_stamp, msg_to_mono
from avatar.nodes.image_out import compressed_topic
from avatar.nodes.lifecycle import AUTOSTART, AvatarLifecycleNode
from avatar.nodes.toolkit import AUDIO_RELIABILITY, MAX_CHUNK, QOS, Param, run_node

STATE_NAMES = {int(s): s.label for s in State}     # AvatarState's constants equal State's (tested)


class FaceDisplay(AvatarLifecycleNode):
    PARAMS = (
        AUTOSTART,
        AUDIO_RELIABILITY,
        MAX_CHUNK,
        Param("mode", DEFAULT_DISPLAY, "where the face is shown", choices=DISPLAY_MODES, read_only=True),
        Param("host", "127.0.0.1", "web mode: address to serve on (0.0.0.0 exposes it to the network)",
              read_only=True),
        Param("allow_remote", False, "web mode: allow a host that is not loopback (the view has no "
              "authentication: anyone who reaches the address sees the face)", read_only=True),
        Param("stale_frames_s", 3.0, "no frame for this long is an ERROR in /diagnostics and the web page",
              range=(0.5, 600.0)),
        Param("stale_state_s", 3.0, "no /avatar/state for this long, once it had come, is an ERROR too",
              range=(0.5, 600.0)),
        Param("port", 8080, "web mode: HTTP port (0 = any free port, logged)", range=(0, 65535), read_only=True),
        Param("jpeg_quality", 85, "web mode: JPEG quality of the MJPEG stream (raw transport)", range=(10, 100)),
        Param("image_transport", "raw", "frames from /avatar/image (raw) or /avatar/image/compressed "
              "(compressed: JPEG from frame_generator, served to the web view without re-encoding)",
              choices=("raw", "compressed"), read_only=True),
        Param("fullscreen", True, "window mode: fullscreen (else an 800x600 window)", read_only=True),
        Param("audio", True, "play the speech audio through the default sound device", read_only=True),
        Param("audio_device", "", "PortAudio output device name or index; empty = default", read_only=True),
        Param("delay_ms", -1.0, "playout delay after the stamps; -1 = automatic from measured latency",
              range=(-1.0, 5000.0)),
        Param("sample_rate", SAMPLE_RATE, "speech audio sample rate", range=(8000, 48000), read_only=True),
    )

    def __init__(self):
        super().__init__("face_display")
        self.cfg = PlayoutConfig(sample_rate=self.param("sample_rate"), delay_s=self.param("delay_ms") / 1000.0)
        self.delay = DelayController(self.cfg)
        self.clock = PlayoutClock(self.delay.delay_s)
        self.frames = FrameQueue(self.cfg.max_frames)
        self.audio_buffer = AudioBuffer(self.cfg.sample_rate, self.cfg.audio_buffer_s)
        self._resampler = StreamResampler(self.cfg.sample_rate)
        self.state_name = "unknown"
        self._last_frame_at: float | None = None      # time.monotonic() of the newest frame
        self._last_state_at: float | None = None      # ... and state message
        self.web: WebView | None = None
        self.presenter: Presenter | None = None
        self.audio_out: AudioOutput | None = None
        self._handles: list = []                       # subscriptions and timers made by configure

    def configure(self) -> None:
        mode = self.param("mode")
        if mode == "window":
            check_display()
            self.presenter = Presenter(self.clock, self.frames, WindowSink(
                WindowConfig(fullscreen=self.param("fullscreen"))), self.diag)
        elif mode == "web":
            self.web = WebView(self.param("host"), self.param("port"), self.status, self.param("allow_remote"))
            self.presenter = Presenter(self.clock, self.frames, self.web, self.diag)
            if self.web.remote:
                self.get_logger().warning(
                    f"web view on {self.web.url} is open to anyone who can reach {self.param('host')} "
                    f"port {self.web.port} (no authentication; allow_remote is true)")
            else:
                self.get_logger().info(f"web view on {self.web.url}")
        if self.param("audio"):
            self._start_audio()
        if self.param("image_transport") == "compressed":
            frames = self.subscribe(CompressedImage, compressed_topic(self, "/avatar/image"), self.on_compressed,
                                    QOS.image)
        else:
            frames = self.subscribe(Image, "/avatar/image", self.on_image, QOS.image)
        self._handles = [frames,
                         self.subscribe(AudioChunk, "/avatar/speech/audio", self.on_audio, self.audio_qos()),
                         self.subscribe(AvatarState, "/avatar/state", self.on_state, QOS.state),
                         self.every(1.0, self.watch, "watch")]
        if self.presenter is not None:
            self.presenter.start()

    def _start_audio(self) -> None:
        device = self.param("audio_device")
        if device.isdigit():
            device = int(device)
        self.audio_out = AudioOutput(self.audio_buffer, self.clock, self.cfg, device=device or None)
        why = self.audio_out.start()
        if why is not None:
            # CI and headless kiosks have no sound card: the picture still works.
            self.get_logger().warning(f"no audio output ({why}); continuing without sound")
            self.audio_out = None
        else:
            self.get_logger().info(f"playing speech audio on '{self.audio_out.device_name}'")

    def on_parameters_changed(self, changed: dict) -> None:
        if "delay_ms" in changed:
            # A lip-sync trim at run time: a new controller, applied to the clock at once.
            self.cfg.delay_s = changed["delay_ms"] / 1000.0
            self.delay = DelayController(self.cfg)
            self.clock.delay_s = self.delay.delay_s

    # -- callbacks ------------------------------------------------------------
    def on_image(self, msg: Image) -> None:
        stamp = self._frame_arrived(msg.header.stamp)
        if stamp is None:
            return
        rgb = rgb_from_image(msg.height, msg.width, msg.encoding, msg.step, msg.data)
        # Encoded here, on arrival, so that showing a due frame costs only a socket write.
        payload = encode_jpeg(rgb, self.param("jpeg_quality")) if self.web is not None else rgb.copy()
        self.frames.push(stamp, payload)

    def on_compressed(self, msg: CompressedImage) -> None:
        if "jpeg" not in msg.format:
            raise InputError(f"compressed format {msg.format!r} is not JPEG")
        stamp = self._frame_arrived(msg.header.stamp)
        if stamp is None:
            return
        jpeg = bytes(msg.data)
        # The web view forwards the generator's JPEG as it is: no second encode per frame.
        self.frames.push(stamp, jpeg if self.web is not None else decode_jpeg(jpeg))

    def _frame_arrived(self, header_stamp) -> float | None:
        """The frame's stamp in s when it should be queued for showing, else None (inactive or
        nothing to show on); latency and liveness are tracked either way while active."""
        if not self.active:
            return None
        self._last_frame_at = time.monotonic()
        stamp = from_stamp(header_stamp)
        self._observe_latency(time.time() - stamp, "frame")
        return stamp if self.presenter is not None else None

    def on_audio(self, msg: AudioChunk) -> None:
        self.check_chunk(msg)
        if not self.active:
            return
        mono, rate, stamp = msg_to_mono(msg)
        mono = self._resampler.push(mono, rate)       # any rate; stateful, so no clicks between chunks
        self._observe_latency(time.time() - stamp, "audio")
        self.audio_buffer.push(stamp, mono)

    def on_state(self, msg: AvatarState) -> None:
        self._last_state_at = time.monotonic()
        self.state_name = STATE_NAMES.get(msg.state, str(msg.state))

    def _observe_latency(self, latency_s: float, kind: str) -> None:
        self.diag.sample(f"{kind}_latency_ms", latency_s * 1000.0)
        quiet = not self.audio_buffer.pending_after(self.clock.media_now())
        if self.delay.observe(latency_s, kind, quiet):
            self.clock.delay_s = self.delay.delay_s
            self.get_logger().info(f"playout delay now {self.delay.delay_s * 1000:.0f} ms",
                                   throttle_duration_sec=2.0)

    def watch(self) -> None:
        """1 Hz: diagnostics values, and stop when the window was closed."""
        self.diag.set("delay_ms", f"{self.clock.delay_s * 1000:.0f}")
        self.diag.set("frames_skipped", self.frames.skipped)
        self.diag.set("audio_device", self.audio_out.device_name if self.audio_out else "none")
        if self.audio_out is not None:
            self.diag.set("audio_resyncs", self.audio_out.resyncs)
        self._check_inputs()
        if self.presenter is not None and not self.presenter.running:
            reason = self.presenter.error or "window closed"
            self.get_logger().info(f"display stopped ({reason}); shutting down")
            self.context.try_shutdown()

    def _check_inputs(self) -> None:
        """/diagnostics level: ERROR when the frames stopped (the generator died or hangs), or the
        state stopped after it had been coming (vad_state died; a graph without one is fine)."""
        if not self.active:
            self.diag.status(OK, "inactive (lifecycle)")
            return
        if self._last_frame_at is None:
            self.diag.status(WARN, "no frames yet")
            return
        now = time.monotonic()
        stale = [f"no {what} for {now - at:.0f} s" for what, at, limit in (
            ("frames", self._last_frame_at, self.param("stale_frames_s")),
            ("state", self._last_state_at, self.param("stale_state_s"))) if at is not None and now - at > limit]
        if not stale:
            self.diag.status(OK, "ok")
            return
        message = "; ".join(stale)
        if self.diag.snapshot()[0] != ERROR:       # logged once per outage, not every second
            self.get_logger().error(message)
        self.diag.status(ERROR, message)

    def status(self) -> dict:
        """The web page's status box."""
        level, message, values = self.diag.snapshot()

        def num(key: str) -> float | None:
            return float(values[key]) if key in values else None

        return {"level": {OK: "OK", WARN: "WARN", ERROR: "ERROR"}.get(level, "STALE"), "message": message,
                "state": self.state_name, "fps": num("frames_shown_hz") or 0.0,
                "latency_ms": num("frame_latency_ms_p50"), "av_offset_ms": num("av_offset_ms_p50"),
                "delay_ms": round(self.clock.delay_s * 1000.0),
                "audio": self.audio_out.device_name if self.audio_out else "none (no output device)"}

    def deactivate(self) -> None:
        self._last_frame_at = None          # a resumed stream gets the start-up grace again
        self._last_state_at = None

    def cleanup(self) -> None:
        for handle in self._handles:
            if isinstance(handle, Timer):
                self.destroy_timer(handle)
            else:
                self.destroy_subscription(handle)
        self._handles = []
        _, _, v = self.diag.snapshot()
        resyncs = self.audio_out.resyncs if self.audio_out else 0
        self.get_logger().info(
            f"A/V offset p50 {v.get('av_offset_ms_p50', '-')} ms, p95 {v.get('av_offset_ms_p95', '-')} ms "
            f"(scheduler clock, last 5 s); frames shown {v.get('frames_shown_total', 0)}, "
            f"skipped {self.frames.skipped}; delay {self.clock.delay_s * 1000:.0f} ms; audio resyncs {resyncs}")
        if self.presenter is not None:
            self.presenter.stop()
        if self.web is not None:
            self.web.shutdown()
        if self.audio_out is not None:
            self.audio_out.close()
        self.web = self.presenter = self.audio_out = None


def main(args=None):
    return run_node(FaceDisplay, args)


if __name__ == "__main__":
    sys.exit(main())

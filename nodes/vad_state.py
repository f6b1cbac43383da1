"""vad_state: silero-vad on both audio topics -> /avatar/state (AvatarState).

SPEAKING while /avatar/speech/audio has speech, LISTENING while /avatar/user/audio
has, IDLE otherwise; ``barge_in`` decides when both do. Published on every change
and at ``publish_rate_hz``. Chunks up to ``max_chunk_s`` long, of any rate and channel
count, are accepted; longer or malformed ones are dropped with a warning. Decisions follow the audio
stamps: audio sent ahead of real time changes the state when it is due, and a
channel that stops sending counts as silent after ``stale_s``.
"""
import sys
import time

from rcl_interfaces.msg import SetParametersResult

from avatar.core.state_machine import BARGE_IN_RULES, StampAligner
from avatar.core.states import LiveStates
from avatar.core.vad import SileroModel, VadConfig
from avatar.msg import AudioChunk, AvatarState
from avatar.nodes.audio_msg import msg_to_mono, to_stamp
from avatar.nodes.toolkit import AUDIO_RELIABILITY, MAX_CHUNK, QOS, AvatarNode, Param, run_node

_D = VadConfig()
_VAD_PARAMS = ("onset", "offset", "min_speech_s", "hangover_s")
TICK_S = 0.02   # how often due decisions and stale channels are checked
STALL_S = 0.1   # a tick this late means the process was starved: drain the queued audio first


class VadState(AvatarNode):
    PARAMS = (
        AUDIO_RELIABILITY,
        MAX_CHUNK,
        Param("onset", _D.onset, "speech probability that starts speech", range=(0.01, 0.99)),
        Param("offset", _D.offset, "probability below which silence is counted (<= onset)", range=(0.01, 0.99)),
        Param("min_speech_s", _D.min_speech_s, "seconds of onset evidence before speech starts", range=(0.0, 2.0)),
        Param("hangover_s", _D.hangover_s, "seconds of silence before speech ends", range=(0.0, 5.0)),
        Param("barge_in", "speaking", "state while both voices speak", choices=BARGE_IN_RULES),
        Param("publish_rate_hz", 5.0, "periodic AvatarState rate (changes are sent at once)", range=(0.5, 50.0)),
        Param("stale_s", 0.5, "a channel without audio for this long counts as silent", range=(0.05, 10.0)),
        Param("lag_s", 0.0, "describe audio this many seconds back, with exact boundaries (0 = live)",
              range=(0.0, 5.0)),
    )

    def __init__(self, **kwargs):
        super().__init__("vad_state", **kwargs)
        self.add_on_set_parameters_callback(self._check_thresholds)
        self._models = (SileroModel(), SileroModel())
        self._build()
        self._pub = self.create_publisher(AvatarState, "/avatar/state", QOS.state)
        self._last_tick = time.monotonic()
        # All callbacks share the node's default (mutually exclusive) group: no locking needed.
        self.subscribe(AudioChunk, "/avatar/speech/audio", lambda m: self._on_audio(0, m), self.audio_qos())
        self.subscribe(AudioChunk, "/avatar/user/audio", lambda m: self._on_audio(1, m), self.audio_qos())
        self.every(TICK_S, self._tick, "state tick")
        self._periodic = self.every(1.0 / self.param("publish_rate_hz"), self._publish_periodic, "state publish")

    def _build(self) -> None:
        cfg = VadConfig(**{k: self.param(k) for k in _VAD_PARAMS})
        self._clocks = (StampAligner(max_gap_s=cfg.max_gap_s), StampAligner(max_gap_s=cfg.max_gap_s))
        self._live = LiveStates(cfg, stale_s=self.param("stale_s"), barge_in=self.param("barge_in"),
                                lag_s=self.param("lag_s"), models=self._models)

    def _check_thresholds(self, params) -> SetParametersResult:
        new = {p.name: p.value for p in params}
        onset, offset = new.get("onset", self.param("onset")), new.get("offset", self.param("offset"))
        if offset > onset:
            reason = f"offset ({offset}) must not exceed onset ({onset})"
            self.get_logger().warning(f"rejected parameter: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def on_parameters_changed(self, changed) -> None:
        if "publish_rate_hz" in changed:
            self._periodic.timer_period_ns = int(1e9 / changed["publish_rate_hz"])
        if changed.keys() - {"publish_rate_hz"}:
            self._build()       # a new configuration starts fresh streams
            self.get_logger().info(f"reconfigured: {changed}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_audio(self, channel: int, msg: AudioChunk) -> None:
        self.check_chunk(msg)      # before decoding: an oversized chunk would stall the VAD for seconds
        mono, rate, stamp = msg_to_mono(msg)
        now = self._now()
        duration = len(mono) / rate
        stamp, shifted = self._clocks[channel].align(stamp, duration, now)
        if shifted:
            # The aligner's offset is what it adds to the stamps (now - stamp); the stamps
            # themselves are off by its negative (negative: behind this node's clock).
            self.get_logger().warning(
                f"{'speech' if channel == 0 else 'user'} audio stamps are {-self._clocks[channel].offset:+.2f} s "
                "off this node's clock; using arrival time", throttle_duration_sec=10.0)
        t0 = time.perf_counter()
        self._live.push(channel, mono, rate, stamp, now)
        self.diag.sample("vad_ms", (time.perf_counter() - t0) * 1e3)
        self.diag.sample("audio_age_ms", (now - stamp - duration) * 1e3)
        self.diag.tick("speech_chunks" if channel == 0 else "user_chunks")
        self._evaluate()

    def _tick(self) -> None:
        mono = time.monotonic()
        stalled, self._last_tick = mono - self._last_tick > STALL_S, mono
        if stalled:
            # The executor runs this timer before the subscriptions that queued up meanwhile.
            self.diag.count("stalls")
            return
        self._evaluate()

    def _evaluate(self) -> None:
        self._publish(*self._live.decide(self._now()))

    def _publish_periodic(self) -> None:
        self._publish(*self._live.decide(self._now(), always=True))

    def _publish(self, sample, changed: bool, messages) -> None:
        if not messages:
            return
        # Stamped with the audio time described; a change, where it really began.
        for stamp, state in messages:
            msg = AvatarState(state=int(state), confidence=float(sample.confidence),
                              speech_prob=float(sample.speech_prob), user_prob=float(sample.user_prob))
            msg.header.stamp = to_stamp(stamp)
            self._pub.publish(msg)
        if changed:
            self.diag.count("transitions")
            self.diag.set("state", sample.state.label)
        self.diag.tick("state_msgs")


def main(args=None):
    return run_node(VadState, args)


if __name__ == "__main__":
    sys.exit(main())

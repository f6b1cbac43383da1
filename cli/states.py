"""`avatar states`: speaking/listening/idle segments of recorded audio (the offline vad_state)."""
import argparse
import json

from avatar.core.audio_io import load_audio
from avatar.core.state_machine import BARGE_IN_RULES, Segment
from avatar.core.states import recording_states
from avatar.core.vad import VadConfig

_DEFAULTS = VadConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speech", required=True, metavar="AUDIO", help="the avatar's own voice (any audio file)")
    parser.add_argument("--user", metavar="AUDIO", help="the other person's voice (any audio file)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--causal", action="store_true",
                        help="boundaries as a live vad_state publishes them (after its detection delays)")
    parser.add_argument("--barge-in", choices=BARGE_IN_RULES, default="speaking",
                        help="state when both voices speak at once (default: %(default)s)")
    parser.add_argument("--onset", type=float, default=_DEFAULTS.onset, help="speech probability that starts speech")
    parser.add_argument("--offset", type=float, default=_DEFAULTS.offset, help="probability below which speech ends")
    parser.add_argument("--min-speech", type=float, default=_DEFAULTS.min_speech_s, metavar="S",
                        help="seconds of onset evidence needed")
    parser.add_argument("--hangover", type=float, default=_DEFAULTS.hangover_s, metavar="S",
                        help="seconds of silence that end speech")


def run(args: argparse.Namespace) -> int:
    cfg = VadConfig(onset=args.onset, offset=args.offset, min_speech_s=args.min_speech, hangover_s=args.hangover)
    speech = load_audio(args.speech)
    user = load_audio(args.user) if args.user else None
    segments = recording_states(speech, user, cfg, barge_in=args.barge_in, aligned=not args.causal)
    print(json.dumps([s.to_json() for s in segments]) if args.json else format_table(segments))
    return 0


def format_table(segments: list[Segment]) -> str:
    lines = [f"{'start':>8}  {'end':>8}  {'length':>7}  state"]
    for s in segments:
        lines.append(f"{s.start:8.2f}  {s.end:8.2f}  {s.end - s.start:7.2f}  {s.state.label}")
    return "\n".join(lines)

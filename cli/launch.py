"""`avatar launch`: run the node graph from the same YAML as launch/avatar.launch.py."""
import argparse
import signal
from pathlib import Path

from avatar.core.errors import InputError
from avatar.core.graph import DISPLAY_MODES, GraphOptions, plan_graph
from avatar.core.launcher import GraphRunner
from avatar.core.paths import default_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="parameter YAML (default: the installed config/avatar.yaml)")
    p.add_argument("--speech", default="", help="avatar voice: an audio file or a directory queue")
    user = p.add_mutually_exclusive_group()
    user.add_argument("--mic", action="store_true", help="user audio from the default microphone")
    user.add_argument("--user-audio", default="", help="user audio from a file instead of a microphone")
    p.add_argument("--display", choices=DISPLAY_MODES, default="none")
    p.add_argument("--record", default="", help="record to OUT.mp4 or OUT.mcap")
    p.add_argument("--image", default="", help="reference portrait (default: from the config)")
    p.add_argument("--duration", type=float, default=None, help="stop S seconds after the graph is up and exit 0")


def run(args: argparse.Namespace) -> int:
    config = args.config or default_config()
    for label, path in (("--speech", args.speech), ("--user-audio", args.user_audio), ("--image", args.image)):
        if path and not Path(path).exists():
            raise InputError(f"{label}: no such file or directory: {path}")
    if args.duration is not None and args.duration <= 0:
        raise InputError("--duration must be positive")
    opts = GraphOptions(config=Path(config), speech=args.speech, mic=args.mic, user_audio=args.user_audio,
                        display=args.display, record=args.record, portrait=args.image)
    runner = GraphRunner(plan_graph(opts), Path(config))
    # SIGTERM should stop the graph as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        runner.start()                    # consumers first, then the audio sources
        runner.wait(args.duration)        # --duration counts from when the graph is up
    except KeyboardInterrupt:
        print("[launch] interrupted, stopping nodes")
    codes = runner.stop()
    failed = {n: c for n, c in codes.items() if c not in (0, -2)}
    if failed:
        print(f"[launch] nodes exited with errors: {failed}")
        return 1
    return 0

"""`avatar launch`: run the node graph from the same YAML as launch/avatar.launch.py, supervised."""
import argparse
import signal
from pathlib import Path

from avatar.core.audio_sources import check_input_device, probe_audio
from avatar.core.errors import InputError
from avatar.core.graph import (DEFAULT_DISPLAY, DISPLAY_MODES, IMAGE_TOPIC, MAX_RESPAWNS, RESPAWN_DELAY_S,
                               GraphOptions, check_namespace, load_config, namespaced, plan_graph)
from avatar.core.output_file import check_writable
from avatar.core.paths import default_config
from avatar.model_runtime.renderers import RENDERER_NAMES
from avatar.nodes.launching import GraphRunner


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="parameter YAML (default: the installed config/avatar.yaml)")
    p.add_argument("--speech", default="", help="avatar voice: an audio file or a directory queue")
    user = p.add_mutually_exclusive_group()
    user.add_argument("--mic", action="store_true", help="user audio from the default microphone")
    user.add_argument("--user-audio", default="", help="user audio from a file instead of a microphone")
    p.add_argument("--display", choices=DISPLAY_MODES, default=DEFAULT_DISPLAY)
    p.add_argument("--record", default="", help="record to OUT.mp4 or OUT.mcap")
    p.add_argument("--overwrite", action="store_true", help="--record may replace an existing file")
    p.add_argument("--image", default="", help="portrait: any photo or drawing with a face (default: from the config)")
    p.add_argument("--renderer", default=None, choices=RENDERER_NAMES,
                   help="what draws the face (default: from the config: warp)")
    p.add_argument("--namespace", default="", help="run the graph under /NAME (several avatars side by side)")
    p.add_argument("--respawn-delay", type=float, default=RESPAWN_DELAY_S,
                   help="seconds before a node that died is restarted (doubles each time)")
    p.add_argument("--max-restarts", type=int, default=MAX_RESPAWNS,
                   help="restarts of one node in a row before the graph is stopped")
    p.add_argument("--duration", type=float, default=None, help="stop S seconds after the graph is up and exit 0")


def _check_args(args: argparse.Namespace, config: Path) -> None:
    """Everything that can be refused before a node starts, one line each."""
    for label, path in (("--speech", args.speech), ("--user-audio", args.user_audio), ("--image", args.image)):
        if path and not Path(path).exists():
            raise InputError(f"{label}: no such file or directory: {path}")
    for label, path in (("--speech", args.speech), ("--user-audio", args.user_audio)):
        if path and not Path(path).is_dir():
            probe_audio(path)             # decodes as audio, before any model is loaded
    if args.mic:
        check_input_device(None)          # no sound device: refuse now, not after the model loaded
    if args.duration is not None and args.duration <= 0:
        raise InputError("--duration must be positive")
    if args.record:
        overwrite = args.overwrite or bool(load_config(config).get("recorder", {}).get("overwrite", False))
        if args.record.endswith(".mcap"):
            if Path(args.record).exists():
                raise InputError(f"--record: {args.record} exists (bags are never overwritten)")
        else:
            check_writable(args.record, overwrite)


def _warn_other_graph(namespace: str) -> None:
    """Another graph publishing our image topic would mix its frames into ours: say so."""
    from avatar.nodes.toolkit import count_publishers
    topic = namespaced(IMAGE_TOPIC, namespace)
    n = count_publishers(topic)
    if n:
        print(f"[launch] WARNING: {n} publisher(s) already on {topic}: another avatar graph is running on this "
              f"ROS domain; its frames will mix with ours (use --namespace NAME or another ROS_DOMAIN_ID)")


def run(args: argparse.Namespace) -> int:
    config = Path(args.config or default_config())
    if not config.is_file():
        raise InputError(f"config file not found: {config}")
    namespace = check_namespace(args.namespace)
    _check_args(args, config)
    opts = GraphOptions(config=config, speech=args.speech, mic=args.mic, user_audio=args.user_audio,
                        display=args.display, record=args.record, portrait=args.image, renderer=args.renderer or "",
                        overwrite=args.overwrite, namespace=namespace)
    specs = plan_graph(opts)
    _warn_other_graph(namespace)          # before our own participant joins the domain
    from avatar.nodes.lifecycle_manager import LifecycleManager   # rclpy: only when a graph is run
    # Managed nodes start unconfigured; this process brings them to active (lifecycle_msgs services).
    manager = LifecycleManager() if any(s.lifecycle for s in specs) else None
    runner = GraphRunner(specs, config, namespace=namespace,
                         respawn_delay_s=args.respawn_delay, max_respawns=args.max_restarts,
                         bring_up=manager.bring_up if manager else None)
    # SIGTERM should stop the graph as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        runner.start()                    # consumers first, then the audio sources; raises if one fails
        runner.wait(args.duration)        # --duration counts from when the graph is up
    except KeyboardInterrupt:
        print("[launch] interrupted, stopping nodes")
    codes = runner.stop()
    if manager is not None:
        manager.close()
    if runner.restarts:
        print(f"[launch] restarts during the run: {runner.restarts}")
    if runner.failure:
        return 1                          # the reason was logged when the node gave up
    failed = {n: c for n, c in codes.items() if c not in (0, -2)}
    if failed:
        print(f"[launch] nodes exited with errors: {failed}")
        return 1
    return 0

"""`avatar` command line: one entry point, one module per subcommand.

Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
``run`` unpacks the namespace into plain values before calling library code.
"""
import argparse
import importlib
import sys

from avatar.core.errors import AvatarError

# name -> (module under avatar.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "render": ("render", "render a talking-face video from an image and audio"),
    "states": ("states", "speaking/listening/idle segments of recorded audio"),
    "launch": ("launch", "run the node graph from config/avatar.yaml"),
    "bench": ("bench", "measure streaming speed and latency"),
    "corpus": ("corpus", "render the synthetic training corpus"),
    "train": ("train", "train the autoencoder or the denoiser"),
    "distill": ("distill", "consistency-distil a few-step student"),
    "eval": ("eval", "score a generated video (sync, stillness, drift, ...)"),
    "export": ("export", "export ONNX / TensorRT engines"),
}


def _load(module: str):
    try:
        return importlib.import_module(f"avatar.cli.{module}")
    except ModuleNotFoundError as err:
        if err.name == f"avatar.cli.{module}":
            return None
        raise


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="avatar", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = _load(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        if module is not None:
            module.add_arguments(p)
        modules[name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args, unknown = parser.parse_known_args(argv)
    module = modules[args.command]
    if module is None:
        print(f"avatar {args.command}: not available yet in this version", file=sys.stderr)
        return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(module.run(args) or 0)
    except AvatarError as err:
        print(f"avatar {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"avatar {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `avatar states ... | head`: the reader left; that is not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

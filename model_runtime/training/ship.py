"""Copy a trained bundle into the package as the default checkpoint (fp16 weights).

python -m avatar.model_runtime.training.ship RUN_DIR/model.safetensors
"""
import argparse
from pathlib import Path

from avatar.model_runtime.avatar_model import default_checkpoint
from avatar.model_runtime.checkpoint import load_bundle, save_bundle


def ship(source: str, dest: str | None = None) -> str:
    config, states, extra = load_bundle(source)
    target = dest or str(default_checkpoint())
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    save_bundle(target, {k: v for k, v in states.items() if v}, config, extra=extra, half=True)
    return target


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("--dest", default=None)
    args = ap.parse_args()
    print(ship(args.source, args.dest))


if __name__ == "__main__":
    main()

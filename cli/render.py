"""`avatar render`: a talking-face MP4 (H.264 + AAC, 25 FPS) from a portrait and audio."""
import argparse
import sys
from pathlib import Path

import numpy as np

from avatar.core.audio_io import load_audio
from avatar.core.errors import InputError
from avatar.core.expression import parse_controls
from avatar.core.image_io import load_image
from avatar.core.output_file import atomic_output, check_writable
from avatar.core.paths import asset
from avatar.core.state_machine import State
from avatar.core.timebase import FPS, SAMPLE_RATE
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.renderers import DEFAULT_RENDERER, FRAMINGS, RENDERER_NAMES

LONG_INPUT_S = 60.0      # longer inputs get a line saying how long (and a progress bar on a TTY)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", type=Path, default=None, help="portrait (default: the bundled example)")
    p.add_argument("--audio", type=Path, required=True, help="the avatar's speech (any soundfile/PyAV format)")
    p.add_argument("--out", type=Path, required=True, help="output .mp4 (written to a temporary name, then renamed)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--states", choices=("auto", *(s.label for s in reversed(State))), default="auto",
                   help="state track: from voice activity (auto) or fixed")
    p.add_argument("--user-audio", type=Path, default=None, help="the other person's voice (drives listening)")
    p.add_argument("--expression", default="",
                   help="a named expression (happy, sad, ...), k=v,... controls, or a keyframe track TRACK.json")
    p.add_argument("--renderer", choices=RENDERER_NAMES, default=DEFAULT_RENDERER,
                   help="warp: animates any photo or drawing; diffusion: the latent diffusion model")
    p.add_argument("--size", type=int, default=None,
                   help="face crop side in pixels, multiple of 32 (default: the renderer's; warp 512)")
    p.add_argument("--max-side", type=int, default=1024,
                   help="output frames show the whole portrait, downscaled to this longest side")
    p.add_argument("--framing", choices=FRAMINGS, default=FRAMINGS[0],
                   help="face: find the face, animate its crop and paste it back (any photo); whole: the "
                        "image already is a renderer-framed face crop (corpus frames; diffusion only)")
    p.add_argument("--motion", type=Path, default=None,
                   help="draw this face-motion track (JSON) instead of generating motion from the audio")
    p.add_argument("--motion-out", type=Path, default=None, help="save the face motion drawn (JSON)")
    p.add_argument("--motion-checkpoint", type=Path, default=None, help="motion generator (default: bundled)")
    p.add_argument("--steps", type=int, default=PlannerConfig.steps, choices=(1, 2, 3, 4))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("fp32", "bf16", "int8"), default="bf16")
    p.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint (default: bundled)")


def run(args: argparse.Namespace) -> int:
    from avatar.core import motion_track
    from avatar.model_runtime.engine.motion_source import ExplicitMotion, load_motion_source
    from avatar.model_runtime.engine.render import RenderJob, render_to_file
    from avatar.model_runtime.portrait import PortraitCache
    from avatar.model_runtime.renderers import load_renderer

    if args.out.suffix.lower() != ".mp4":
        raise InputError(f"--out must end in .mp4, got {args.out}")
    check_writable(args.out, args.overwrite)      # before anything slow: one line and exit 1
    if args.size is not None and (args.size % 32 or not 64 <= args.size <= 1024):
        raise InputError(f"--size must be a multiple of 32 in [64, 1024], got {args.size}")
    if not 64 <= args.max_side <= 8192:
        raise InputError(f"--max-side must be in [64, 8192], got {args.max_side}")
    image = load_image(args.image if args.image is not None else asset("portrait.png"))
    speech = load_audio(args.audio)
    user = load_audio(args.user_audio) if args.user_audio is not None else None
    expression = _expression(args.expression) if args.expression else None
    motion = motion_track.load(args.motion) if args.motion is not None else None
    portraits = PortraitCache(args.max_side) if args.framing == "face" else None
    if portraits is not None:
        portraits.get(image)              # no usable face: one error line before any model loads
    renderer = load_renderer(args.renderer, args.size, dtype=args.dtype, device=args.device, checkpoint=args.checkpoint,
                             image=image)
    # A given track replaces the generator: nothing to load.
    source = ExplicitMotion() if motion is not None else load_motion_source(args.motion_checkpoint)
    job = RenderJob(image=image, speech=speech, user=user, states=args.states, expression=expression,
                    steps=args.steps, seed=args.seed, max_side=args.max_side, motion=motion,
                    framing=args.framing)
    n_seconds = max(len(speech), 0 if user is None else len(user)) / SAMPLE_RATE
    if n_seconds > LONG_INPUT_S:
        print(f"rendering {n_seconds / 60:.1f} min of audio", file=sys.stderr)
    with atomic_output(args.out) as part:     # Ctrl-C or an error leaves no partial file under --out
        stats = render_to_file(renderer, source, job, part, progress=sys.stderr.isatty(), portraits=portraits)
    if args.motion_out is not None:
        motion_track.save(args.motion_out, stats.motion)
    print(f"wrote {args.out}: {stats.frames} frames ({stats.frames / FPS:.2f} s) in {stats.seconds:.1f} s "
          f"({stats.fps:.1f} FPS) with the {args.renderer} renderer; states {stats.states}")
    return 0


def _expression(text: str):
    """(DIM,) for ``k=v,...`` controls or a named ROS4HRI expression (happy, sad, ...);
    (times, vectors) keyframes for a ``.json`` track."""
    if text.lower().endswith(".json"):
        from avatar.core.expression_track import load_track
        return load_track(Path(text))
    if "=" in text:
        return np.asarray(parse_controls(text), np.float32)
    from avatar.core.expression_mapping import named_expression
    return np.asarray(named_expression(text.strip()), np.float32)

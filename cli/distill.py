"""`avatar distill [denoiser|motion]`: consistency-distil the teacher into a 1/2/4-step student."""
from pathlib import Path

from avatar.cli.train import add_loop_arguments, loop_config
from avatar.core.errors import InputError


def add_arguments(parser) -> None:
    parser.add_argument("what", nargs="?", choices=("denoiser", "motion"), default="denoiser",
                        help="which teacher: the image denoiser (default) or the motion generator")
    add_loop_arguments(parser)
    parser.add_argument("--teacher", required=True, help="teacher checkpoint (avatar train denoiser)")
    parser.add_argument("--mouth-weight", type=float, default=30.0,
                        help="extra loss weight on the mouth region, as in train denoiser (0: uniform)")
    parser.add_argument("--smooth", type=float, default=0.0,
                        help="motion: weight of the student's curvature error against the ground truth")


def run(args) -> int:
    if not Path(args.teacher).is_file():
        raise InputError(f"teacher checkpoint not found: {args.teacher}")
    if args.what == "motion":
        from avatar.model_runtime.motion.distill import distill_motion
        if args.smooth < 0:
            raise InputError("--smooth must be >= 0")
        result = distill_motion(args.corpus, args.teacher, loop_config(args, 64, 2e-4), smooth=args.smooth)
        print(" ".join(f"{k}={v:.4f}" for k, v in result.items()))
        return 0
    if args.mouth_weight < 0:
        raise InputError("--mouth-weight must be >= 0")
    from avatar.model_runtime.training.distill import distill
    result = distill(args.corpus, args.teacher, loop_config(args, 32, 1e-4), mouth_weight=args.mouth_weight)
    if result:
        print(" ".join(f"{k}={v:.4f}" for k, v in result.items()))
    return 0

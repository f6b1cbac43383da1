"""`avatar export`: ONNX (fp32 + int8) and TensorRT engines of the per-step networks."""
import argparse
from pathlib import Path

from avatar.core.errors import InputError
from avatar.core.image_io import load_image
from avatar.core.paths import asset
from avatar.model_runtime.renderers import RENDERER_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--renderer", choices=RENDERER_NAMES, default="diffusion",
                   help="whose per-step networks to export (only learned renderers have any)")
    p.add_argument("--onnx", type=Path, default=None, help="write denoiser/decoder .onnx (+ .int8.onnx) here")
    p.add_argument("--tensorrt", type=Path, default=None, help="build TensorRT .plan engines here (needs a GPU)")
    p.add_argument("--precision", choices=("fp16", "int8", "fp32"), default="fp16", help="TensorRT precision")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 ONNX files")
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--size", type=int, default=None, help="frame side (default: the checkpoint's)")
    p.add_argument("--image", type=Path, default=None, help="portrait used to trace the decoder")


def run(args: argparse.Namespace) -> int:
    from avatar.model_runtime.avatar_model import AvatarModel
    from avatar.model_runtime.engine.export import build_tensorrt, export_onnx

    if args.onnx is None and args.tensorrt is None:
        raise InputError("nothing to do: give --onnx DIR and/or --tensorrt DIR")
    if args.renderer != "diffusion":
        raise InputError(f"--renderer {args.renderer}: it has no per-step networks to export (it draws with OpenCV "
                         "on the CPU); export --renderer diffusion")
    image = load_image(args.image if args.image is not None else asset("portrait.png"))
    onnx_dir = args.onnx
    if onnx_dir is not None:
        model = AvatarModel.load(args.checkpoint, dtype="fp32", size=args.size)
        for path in export_onnx(model, image, onnx_dir, int8=not args.no_int8):
            print(f"wrote {path}")
    if args.tensorrt is not None:
        if onnx_dir is None:
            raise InputError("--tensorrt builds from ONNX: give --onnx DIR too")
        for path in build_tensorrt(onnx_dir, args.tensorrt, args.precision):
            print(f"wrote {path}")
    return 0

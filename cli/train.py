"""`avatar train autoencoder|denoiser|motion`: resumable CPU (bf16) or torchrun DDP training."""
from pathlib import Path

from avatar.core.errors import InputError

DEFAULT_BATCH = {"autoencoder": 8, "denoiser": 64, "motion": 64}   # images / latent frames / motion clips
DEFAULT_LR = {"autoencoder": 1e-3, "denoiser": 3e-4, "motion": 1e-3}


def add_loop_arguments(parser) -> None:
    """Options shared with `avatar distill`."""
    parser.add_argument("--corpus", required=True, help="corpus directory (avatar corpus)")
    parser.add_argument("--out", required=True, help="run directory: train.log, state.pt, model.safetensors")
    parser.add_argument("--steps", type=int, default=0, help="stop after N steps (0: no limit)")
    parser.add_argument("--minutes", type=float, default=0.0, help="stop after M minutes (0: no limit)")
    parser.add_argument("--batch", type=int, default=None, help="samples per step and process")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per process")
    parser.add_argument("--save-minutes", type=float, default=3.0, help="checkpoint interval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/state.pt")


def loop_config(args, batch: int, lr: float):
    from avatar.model_runtime.training.loop import LoopConfig
    if args.steps <= 0 and args.minutes <= 0:
        raise InputError("give --steps or --minutes (training has no natural end)")
    return LoopConfig(out=args.out, steps=args.steps, minutes=args.minutes, batch=args.batch or batch,
                      lr=args.lr or lr, save_minutes=args.save_minutes, seed=args.seed, threads=args.threads,
                      resume=args.resume)


def add_arguments(parser) -> None:
    parser.add_argument("what", choices=sorted(DEFAULT_BATCH), help="which network to train")
    add_loop_arguments(parser)
    parser.add_argument("--autoencoder", help="trained autoencoder checkpoint (denoiser only)")
    parser.add_argument("--init", help="start from this checkpoint's weights (autoencoder: its autoencoder; "
                        "denoiser: its audio encoder and denoiser, e.g. the shipped model), fresh optimiser; "
                        "motion: the bundle whose frozen audio encoder makes the tokens (default: the shipped one)")
    parser.add_argument("--freeze-encoder", action="store_true",
                        help="autoencoder: train the decoder side only (cached latents stay valid)")
    parser.add_argument("--latent-frames", type=int, default=0,
                        help="denoiser: cache latents of about this many frames per split (0: all)")
    parser.add_argument("--audio-aux", type=float, default=1.0,
                        help="denoiser: weight of the auxiliary gt-mouth loss on the audio tokens (0: off)")
    parser.add_argument("--face-aux", type=float, default=0.0,
                        help="denoiser: weight of the frozen face probe's loss on the denoised clip, which "
                        "teaches expression control (0: off; see docs/MODEL.md)")
    parser.add_argument("--mouth-weight", type=float, default=30.0,
                        help="denoiser: extra loss weight on the mouth region (0: uniform; see docs/MODEL.md)")
    parser.add_argument("--bf16", action="store_true", help="motion: bf16 autocast on the CPU")


def run(args) -> int:
    loop = loop_config(args, DEFAULT_BATCH[args.what], DEFAULT_LR[args.what])
    if args.what == "motion":
        from avatar.model_runtime.motion.train import train_motion
        result = train_motion(args.corpus, loop, audio_checkpoint=args.init, bf16=args.bf16)
    elif args.what == "autoencoder":
        from avatar.model_runtime.training.autoencoder_train import train_autoencoder
        result = train_autoencoder(args.corpus, loop, init=args.init, freeze_encoder=args.freeze_encoder)
    else:
        if args.init and not Path(args.init).is_file():
            raise InputError(f"--init checkpoint not found: {args.init}")
        if not args.autoencoder or not Path(args.autoencoder).is_file():
            raise InputError("train denoiser needs --autoencoder CHECKPOINT (from avatar train autoencoder)")
        from avatar.model_runtime.training.denoiser_train import train_denoiser
        if min(args.mouth_weight, args.audio_aux, args.face_aux) < 0:
            raise InputError("--mouth-weight, --audio-aux and --face-aux must be >= 0")
        result = train_denoiser(args.corpus, args.autoencoder, loop, latent_frames=args.latent_frames,
                                mouth_weight=args.mouth_weight, audio_aux=args.audio_aux, init=args.init,
                                face_aux=args.face_aux)
    if result:
        print(" ".join(f"{k}={v:.4f}" for k, v in result.items()))
    return 0

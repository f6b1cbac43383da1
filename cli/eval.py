"""avatar eval: score a video with the bundled face estimator, or train / score the estimator.

    avatar eval --video V.mp4 [--audio A.wav] [--user-audio U.wav] [--gt gt.json] [--reference IMG] [--json]
    avatar eval --train-estimator --corpus DIR --out PATH [--steps N]
    avatar eval --score-estimator --corpus DIR [--weights PATH] [--json]
    avatar eval --model CKPT --corpus DIR [--split test] [--clips N] [--sample-steps 1,2,4] [--json]
    avatar eval --motion [CKPT ...] --corpus DIR [--steps 1 2 4] [--json]   (motion generator; default:
        the shipped student and teacher)
"""
import json
from pathlib import Path

from avatar.core.errors import InputError
from avatar.core.timebase import FPS


def add_arguments(parser) -> None:
    parser.add_argument("--video", help="video to score (any container PyAV reads, 25 fps)")
    parser.add_argument("--real-speech", action="store_true",
                        help="render installed real photos on installed real speech with --renderer and "
                             "measure lip sync, stillness, blinks and outside pixels with the face mesh")
    parser.add_argument("--renderer", default=None, help="--real-speech: renderer (default: the product's)")
    parser.add_argument("--image", nargs="*", default=None, help="--real-speech: portraits (default: installed photos)")
    parser.add_argument("--audio", help="the avatar's speech (default: the video's own audio track)")
    parser.add_argument("--user-audio", help="the other person's voice (listening labels when there is no --gt)")
    parser.add_argument("--gt", help="corpus gt.json for the same frames (gt sync, stillness, expression)")
    parser.add_argument("--reference", help="portrait the video was generated from (identity vs reference)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--weights", help="estimator weights (default: the bundled ones)")
    parser.add_argument("--max-lag", type=int, default=5, help="lag search range in frames (default 5)")
    parser.add_argument("--train-estimator", action="store_true", help="train the face estimator")
    parser.add_argument("--score-estimator", action="store_true", help="estimator accuracy on the test split")
    parser.add_argument("--corpus", help="corpus directory (estimator training / scoring)")
    parser.add_argument("--out", help="where to write trained estimator weights")
    parser.add_argument("--steps", type=int, nargs="+",
                        help="estimator training steps (one value); --motion: sampler step counts (default 1 2 4)")
    parser.add_argument("--seed", type=int, default=0, help="estimator training seed (default 0)")
    parser.add_argument("--model", help="generate the --corpus split's clips with this checkpoint and score them")
    parser.add_argument("--split", default="test", help="corpus split for --model (default test)")
    parser.add_argument("--clips", type=int, default=None,
                        help="--model: first N clips of the split (default 12, 0 = all); --motion: default all")
    parser.add_argument("--motion", nargs="*", metavar="CKPT", default=None,
                        help="score motion checkpoints on the --corpus split (motion corpus; no CKPT: the "
                        "shipped student and teacher)")
    parser.add_argument("--sample-steps", default="1,2,4", help="--model: sampler step counts (default 1,2,4)")
    parser.add_argument("--threads", type=int, default=0, help="--model: torch threads (0 = torch default)")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "int8"), default="bf16",
                        help="--model: precision (int8 runs the networks on ONNX Runtime)")


def _steps_list(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"--sample-steps must be comma-separated integers, not {text!r}") from None
    if not steps or any(s < 1 or s > 8 for s in steps):
        raise InputError(f"--sample-steps values must be 1..8, not {text!r}")
    return steps


def _model_eval(args) -> int:
    from avatar.model_runtime.avatar_model import resolve_checkpoint
    from avatar.model_runtime.corpus.reader import open_corpus
    from avatar.model_runtime.engine.backends import load_runtime_model
    from avatar.model_runtime.evaluation.estimator import load_estimator
    from avatar.model_runtime.evaluation.model_eval import ModelEvalConfig, evaluate_model, format_summary
    if not args.corpus:
        raise InputError("--model needs --corpus DIR (its held-out clips are generated and scored)")
    clips = 12 if args.clips is None else args.clips
    if clips < 0:
        raise InputError("--clips must be >= 0")
    cfg = ModelEvalConfig(split=args.split, clips=clips, steps=_steps_list(args.sample_steps))
    corpus = open_corpus(args.corpus)
    clips = corpus.split(cfg.split)                       # unknown split: fail before loading weights
    checkpoint = resolve_checkpoint(args.model)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    portrait = corpus.identity_image(clips[0].identity) if clips else None   # int8: traces the decoder
    model = load_runtime_model(str(checkpoint), dtype=args.dtype, image=portrait)
    report = evaluate_model(model, corpus, load_estimator(args.weights), cfg, log=None if args.json else print)
    report["checkpoint"], report["dtype"] = str(checkpoint), args.dtype
    print(json.dumps(report, indent=1) if args.json else format_summary(report))
    return 0


def _motion_eval(args) -> int:
    from avatar.model_runtime.motion.evaluate import evaluate_motion
    from avatar.model_runtime.motion.generator import TEACHER_NAME, default_motion_checkpoint
    if not args.corpus:
        raise InputError("--motion needs --corpus DIR (a motion corpus: avatar corpus --motion-only)")
    steps = tuple(args.steps or (1, 2, 4))
    if any(s < 1 or s > 64 for s in steps) or (args.clips or 0) < 0:
        raise InputError("--steps must be 1..64 and --clips >= 0")
    paths = args.motion or [str(default_motion_checkpoint()), str(default_motion_checkpoint(TEACHER_NAME))]
    labels = {f"{i}:{Path(p).parent.name}/{Path(p).stem}": p for i, p in enumerate(paths)}
    report = evaluate_motion(labels, args.corpus, steps, split=args.split, clips=args.clips or 0,
                             log=None if args.json else print)
    if args.json:
        print(json.dumps(report, indent=1))
    for label, gaps in report.get("gap_vs_teacher", {}).items() if not args.json else ():
        worst = max(gaps, key=gaps.get)
        print(f"{label}: worst gap to the teacher {gaps[worst]:.1%} ({worst})")
    return 0


def _train(corpus: str | None, out: str | None, steps: list[int] | None, seed: int) -> int:
    from avatar.model_runtime.evaluation.train_estimator import TrainConfig, train_estimator
    if not corpus or not out:
        raise InputError("--train-estimator needs --corpus DIR and --out PATH")
    if steps is not None and len(steps) != 1:
        raise InputError("--train-estimator takes one --steps value")
    cfg = TrainConfig(seed=seed) if steps is None else TrainConfig(steps=steps[0], seed=seed)
    train_estimator(corpus, out, cfg)
    return 0


def _score(corpus: str | None, weights: str | None, as_json: bool) -> int:
    from avatar.model_runtime.corpus.reader import open_corpus
    from avatar.model_runtime.evaluation.estimator import load_estimator
    from avatar.model_runtime.evaluation.score_estimator import score
    if not corpus:
        raise InputError("--score-estimator needs --corpus DIR")
    clips = open_corpus(corpus).split("test")
    report = score(load_estimator(weights), clips, log=None if as_json else print)
    if as_json:
        print(json.dumps(report, indent=1))
    return 0


def _evaluate(video: str | None, audio: str | None, user_audio: str | None, gt_path: str | None,
              reference: str | None, weights: str | None, max_lag: int, as_json: bool) -> int:
    from avatar.core.audio_io import load_audio
    from avatar.model_runtime.evaluation import media
    from avatar.model_runtime.evaluation.estimator import load_estimator
    from avatar.model_runtime.evaluation.report import format_table
    from avatar.model_runtime.evaluation.runner import check_inputs, evaluate_video
    if not video:
        raise InputError("--video is required (or --train-estimator / --score-estimator)")
    frames, fps = media.read_video(video)
    if abs(fps - FPS) > 0.01:
        raise InputError(f"{video} runs at {fps:g} fps; avatar videos are {FPS} fps")
    speech = load_audio(audio) if audio else media.video_audio(video)
    gt = media.read_gt(gt_path) if gt_path else None
    if speech is None and gt is None:
        raise InputError(f"{video} has no audio track: pass --audio WAV (or --gt gt.json)")
    user = load_audio(user_audio) if user_audio else None
    ref = media.read_image(reference) if reference else None
    check_inputs(frames, speech, gt, user, max_lag)   # before loading weights: bad input fails fast
    result = evaluate_video(frames, speech, gt, ref, load_estimator(weights), max_lag=max_lag, user=user)
    print(json.dumps(result, indent=1) if as_json else format_table(result))
    return 0


def run(args) -> int:
    if args.train_estimator:
        return _train(args.corpus, args.out, args.steps, args.seed)
    if args.score_estimator:
        return _score(args.corpus, args.weights, args.json)
    if args.model:
        return _model_eval(args)
    if args.motion is not None:
        return _motion_eval(args)
    if args.real_speech:
        return _real_speech_eval(args)
    return _evaluate(args.video, args.audio, args.user_audio, args.gt, args.reference, args.weights,
                     args.max_lag, args.json)


def _real_speech_eval(args) -> int:
    import json
    from pathlib import Path

    from avatar.core.image_io import load_image
    from avatar.model_runtime.engine.motion_source import load_motion_source
    from avatar.model_runtime.evaluation.real_speech import evaluate, installed_portraits
    from avatar.model_runtime.renderers import DEFAULT_RENDERER, load_renderer

    portraits = ({Path(p).stem: load_image(Path(p)) for p in args.image} if args.image
                 else installed_portraits())
    steps = args.steps[0] if isinstance(args.steps, list) and args.steps else 2
    renderer = load_renderer(args.renderer or DEFAULT_RENDERER, dtype=args.dtype)
    result = evaluate(renderer, load_motion_source(), portraits, steps=steps)
    if args.json:
        print(json.dumps(result, default=float))
        return 0
    for r in result["rows"]:
        print(f"{r['portrait']:>16} {r['recording']:>44}: sync r {r['sync_r']:.2f} at lag {r['sync_lag']:+d} "
              f"(lag 0: {r['sync_r_lag0']:.2f}), silence/speech motion {r['silence_motion_ratio']:.2f}, "
              f"{r['blinks_per_min']:.0f} blinks/min, outside PSNR {r['outside_psnr_db']:.1f} dB")
    m = result["mean"]
    print(f"mean: sync r {m['sync_r']:.2f} (lag 0: {m['sync_r_lag0']:.2f}, median lag {m['sync_lag_median']:+.0f}), "
          f"silence/speech motion {m['silence_motion_ratio']:.2f}, {m['blinks_per_min']:.1f} blinks/min, "
          f"outside PSNR min {m['outside_psnr_db_min']:.1f} dB")
    return 0

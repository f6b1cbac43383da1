"""`avatar bench`: streaming speed and latency; optionally appended to BENCHMARKS.md."""
import argparse
import datetime
import itertools
import json
import os
from pathlib import Path

from avatar.core.errors import InputError
from avatar.core.image_io import load_image
from avatar.core.paths import asset
from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.renderers import DEFAULT_RENDERER, RENDERER_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--renderer", nargs="+", default=[DEFAULT_RENDERER], choices=RENDERER_NAMES)
    p.add_argument("--size", type=int, nargs="+", default=None,
                   help="face crop side(s), multiples of 32 (default: the renderer's)")
    p.add_argument("--max-side", type=int, default=1024, help="output frames: the portrait downscaled to this")
    p.add_argument("--steps", type=int, nargs="+", default=[PlannerConfig.steps], choices=(1, 2, 3, 4))
    p.add_argument("--dtype", nargs="+", default=["bf16"], choices=("fp32", "bf16", "int8"))
    p.add_argument("--seconds", type=float, default=20.0, help="audio / wall seconds per measurement")
    p.add_argument("--clip", type=int, default=PlannerConfig.clip, help="steady-state clip length for throughput")
    p.add_argument("--checkpoint", type=Path, default=None, help="diffusion renderer checkpoint (default: bundled)")
    p.add_argument("--motion-checkpoint", type=Path, default=None, help="motion generator (default: bundled)")
    p.add_argument("--image", type=Path, default=None, help="portrait (default: bundled)")
    p.add_argument("--json", action="store_true", help="print one JSON object per configuration")
    p.add_argument("--long-run", type=float, default=None, metavar="SECONDS",
                   help="instead: render SECONDS of speech and report drift (first vs last minute) and memory")
    p.add_argument("--record", type=Path, nargs="?", const=Path("BENCHMARKS.md"), default=None,
                   help="append the results to a markdown file (default BENCHMARKS.md)")


def run(args: argparse.Namespace) -> int:
    from avatar.model_runtime.engine.bench import BenchConfig, bf16_matmul_peak_gflops, run_bench
    from avatar.model_runtime.engine.motion_source import load_motion_source
    from avatar.model_runtime.renderers import load_renderer

    if args.seconds < 2:
        raise InputError("--seconds must be at least 2")
    for size in args.size or ():
        if size % 32 or size < 64:
            raise InputError(f"--size must be a multiple of 32, at least 64 (got {size})")
    image = load_image(args.image if args.image is not None else asset("portrait.png"))
    if args.long_run is not None:
        return _long_run(args, image)
    peak = bf16_matmul_peak_gflops()
    results = []
    motion = load_motion_source(args.motion_checkpoint)
    for name, size, dtype in itertools.product(args.renderer, args.size or [None], args.dtype):
        renderer = load_renderer(name, size, dtype=dtype, checkpoint=args.checkpoint, image=image)
        for steps in args.steps:
            cfg = BenchConfig(size=renderer.size, steps=steps, dtype=dtype, seconds=args.seconds, clip=args.clip,
                              renderer=name, max_side=args.max_side)
            result = run_bench(renderer, motion, image, cfg, peak_gflops=peak)
            results.append(result)
            print(json.dumps(result) if args.json else _line(result), flush=True)
    if args.record is not None:
        append_markdown(args.record, results)
        print(f"appended {len(results)} result(s) to {args.record}")
    return 0


def _line(r: dict) -> str:
    stages = ", ".join(f"{k} {v['ms_per_frame']} ms/frame" for k, v in r["stages"].items())
    return (f"{r['renderer']} {r['size']}px crop into {r['frame'][1]}x{r['frame'][0]}, {r['steps']} steps "
            f"{r['dtype']} ({r['backend']}): {r['fps']} FPS, first clip "
            f"{r['first_clip_ms']} ms, audio-to-frame p50 {r['audio_to_frame_ms_p50']} / p95 "
            f"{r['audio_to_frame_ms_p95']} ms, {r['gflop_per_frame']} GFLOP/frame "
            f"({100 * r['fraction_of_peak']:.0f}% of {r['bf16_peak_gflops']} GFLOP/s bf16 peak); {stages}")


def append_markdown(path: Path, results: list[dict]) -> None:
    cpu = results[0]["cpu"]
    head = (f"\n## avatar bench, {datetime.date.today().isoformat()}: {cpu['model']} "
            f"({cpu['cores']} cores, {', '.join(cpu['flags'])}; torch {cpu['torch']}, "
            f"{cpu['torch_threads']} threads)\n\n"
            "| renderer | crop | frame | steps | dtype | backend | FPS | first clip ms | a2f p50 ms | a2f p95 ms "
            "| live FPS | GFLOP/frame | % bf16 peak | features / denoise / decode / paste ms/frame |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in results:
        st = r["stages"]
        per = " / ".join(str(st[k]["ms_per_frame"]) for k in ("features", "denoise", "decode", "paste"))
        rows.append(f"| {r['renderer']} | {r['size']} | {r['frame'][1]}x{r['frame'][0]} | {r['steps']} | {r['dtype']} | {r['backend']} | {r['fps']} | "
                    f"{r['first_clip_ms']} | {r['audio_to_frame_ms_p50']} | {r['audio_to_frame_ms_p95']} | "
                    f"{r['live_fps']} | {r['gflop_per_frame']} | {100 * r['fraction_of_peak']:.0f} | {per} |")
    if not path.exists():
        path.write_text("# Benchmarks\n\nAppend-only; each section names its machine and date.\n")
    with path.open("a") as f:
        f.write(head + "\n".join(rows) + "\n")


def _long_run(args: argparse.Namespace, image) -> int:
    from avatar.core.audio_io import load_audio
    from avatar.model_runtime.engine.bench import cpu_info
    from avatar.model_runtime.engine.motion_source import load_motion_source
    from avatar.model_runtime.renderers import load_renderer
    from avatar.model_runtime.engine.long_run import LongRunConfig, long_run
    from avatar.model_runtime.evaluation.runner import evaluate_video

    if args.long_run < 130:
        raise InputError("--long-run needs at least 130 s (two one-minute windows apart)")
    renderer = load_renderer(args.renderer[0], args.size[0] if args.size else None, dtype=args.dtype[0],
                             checkpoint=args.checkpoint, image=image)
    cfg = LongRunConfig(seconds=args.long_run, steps=args.steps[0], clip=args.clip)
    result = long_run(renderer, load_motion_source(args.motion_checkpoint), image, load_audio(asset("speech_example.wav")), cfg)
    scores = evaluate_video(result.pop("frames"), reference=image)
    result["drift"] = scores["drift"]
    result["flicker"] = scores["flicker"]
    summary = {k: v for k, v in result.items() if k != "memory_trace"}
    print(json.dumps(summary, indent=None if args.json else 2, default=float))
    if args.record is not None:
        d = result["drift"]
        with args.record.open("a") as f:
            f.write(f"\n## Long run, {datetime.date.today().isoformat()}: {args.long_run:.0f} s at "
                    f"{renderer.size}px {args.renderer[0]}, {args.steps[0]} steps, {args.dtype[0]}\n\n"
                    f"Command: `avatar bench --long-run {args.long_run:.0f} --renderer {args.renderer[0]} --size {renderer.size} --steps "
                    f"{args.steps[0]} --dtype {args.dtype[0]} --record`\n\n"
                    f"Machine: {cpu_info()['model']}, {os.cpu_count()} vCPUs.\n\n"
                    f"- drift, first vs last {d['window_s']:.0f} s of the run: similarity {d['similarity']:.3f} "
                    f"(colour {d['colour']:.3f}, appearance {d['appearance']:.3f}, identity {d['identity']:.3f}, "
                    f"sharpness ratio {d['sharpness_ratio']:.3f}); flicker {result['flicker']['temporal_hf']:.3f}\n"
                    f"- memory: RSS {result['rss_mb_start']:.0f} MB at start, {result['rss_mb_end']:.0f} MB at "
                    f"the end (of which {result['kept_frames_mb']:.0f} MB are the two kept minutes of frames), "
                    f"slope between them: {result['rss_slope_mb_per_min_middle']:+.2f} MB/min\n"
                    f"- throughput over the run: {result['fps']:.1f} FPS\n")
    return 0

"""`avatar corpus`: render the synthetic talking-face corpus, or import videos."""
from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="corpus directory to write")
    parser.add_argument("--hours", type=float, default=2.0, help="hours of clips to render")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (same seed, same corpus)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--motion-only", action="store_true",
                        help="audio and per-frame ground truth only, no video (the motion generator's corpus)")
    parser.add_argument("--from-videos", metavar="DIR", default=None,
                        help="convert talking-head MP4s in DIR instead of rendering")


def run(args: argparse.Namespace) -> int:
    if args.from_videos is not None:
        from avatar.model_runtime.corpus.from_videos import import_videos
        meta = import_videos(args.from_videos, args.out, size=args.size)
        stats = meta["render_stats"]
        print(f"imported {stats['clips']} clips from {stats['videos']} videos into {args.out}")
        return 0
    from avatar.model_runtime.corpus.build import CorpusConfig, build_corpus
    meta = build_corpus(CorpusConfig(out=args.out, hours=args.hours, size=args.size,
                                     seed=args.seed, workers=args.workers, motion_only=args.motion_only))
    counts = {s: len(v) for s, v in meta["splits"].items()}
    print(f"corpus in {args.out}: {json.dumps(counts)} clips; "
          f"render stats {json.dumps(meta['render_stats'])}")
    return 0

"""Expression efficacy of the diffusion renderer with and without re-posing (issue 11, item 5).

Runs ``evaluate_model`` (the numbers of ``avatar eval --model``) on the first ``--clips`` test
clips at ``--steps`` for each framing x repose setting, and writes the summaries, the mean
efficacy per control and the cost of one re-pose (warp draw + reference encode) to ``--out``.

    nice -n 10 .venv/bin/python scripts/repose_eval.py --corpus /work/data/corpus_small --clips 6 \
        --out docs/training_logs/eval_repose.json
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from avatar.core.expression import INDEX as EXPRESSION_INDEX, DIM as EXPRESSION_DIM
from avatar.model_runtime.corpus.reader import open_corpus
from avatar.model_runtime.engine.backends import load_runtime_model
from avatar.model_runtime.engine.whole_frame import WholeFrame
from avatar.model_runtime.evaluation.estimator import load_estimator
from avatar.model_runtime.evaluation.model_eval import ModelEvalConfig, evaluate_model
from avatar.model_runtime.renderers.diffusion import DiffusionRenderer


def per_control(rows: list[dict]) -> dict:
    """Mean r over clips per control (controls a clip did not exercise are left out)."""
    out = {}
    for name in EXPRESSION_INDEX:
        values = [r["expression_per_control"][name] for r in rows
                  if r["expression_per_control"] and r["expression_per_control"].get(name) is not None]
        out[name] = round(float(np.mean(values)), 3) if values else None
    return out


def repose_cost_ms(model, image: np.ndarray, repeats: int = 3) -> dict:
    """Median ms of one new pose (warp draw + encode) on ``image`` at the model's size, framing whole."""
    renderer = DiffusionRenderer(model, repose=True)
    aligned = WholeFrame(image).align(model.size)
    t0 = time.perf_counter()
    reposer = renderer.prepare(aligned.crop, aligned)
    prepare_ms = 1000 * (time.perf_counter() - t0)
    times = []
    for k in range(repeats * 4):
        e = torch.zeros(1, 8, EXPRESSION_DIM)
        e[..., EXPRESSION_INDEX[("smile", "brow_raise", "eye_open", "head_tilt")[k % 4]]] = 0.3 + 0.1 * (k // 4)
        t0 = time.perf_counter()
        reposer.reference(e)
        times.append(1000 * (time.perf_counter() - t0))
    return {"prepare_ms": round(prepare_ms, 1), "repose_ms_median": round(float(np.median(times)), 1),
            "poses": reposer.encoded}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--settings", default="whole:0,whole:1,face:0,face:1", help="framing:repose,... (repose 0, 1 or control+control)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = open_corpus(args.corpus)
    model = load_runtime_model(None, dtype="bf16")      # as `avatar eval --model` (bf16)
    estimator = load_estimator(None)
    report = {"corpus": args.corpus, "clips": args.clips, "steps": args.steps, "threads": args.threads, "runs": {}}
    clips = corpus.split("test")[:args.clips]
    report["repose_cost"] = repose_cost_ms(model, corpus.identity_image(clips[0].identity))
    print(report["repose_cost"], flush=True)
    for item in args.settings.split(","):
        framing, repose = item.split(":")
        repose = bool(int(repose)) if repose in ("0", "1") else tuple(repose.split("+"))
        cfg = ModelEvalConfig(clips=args.clips, steps=(args.steps,), framing=framing, repose=repose)
        res = evaluate_model(model, corpus, estimator, cfg)
        rows = res["clips"][args.steps]
        run = {"summary": res["per_steps"][args.steps], "per_control": per_control(rows), "rows": rows}
        report["runs"][item] = run
        print(item, json.dumps({k: run["summary"][k] for k in ("sync_r", "listening_ratio", "idle_ratio",
                                                              "expression_r", "expression_r_gt", "fps")}),
              run["per_control"], flush=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

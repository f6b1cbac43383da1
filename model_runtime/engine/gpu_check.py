"""`python -m avatar.model_runtime.engine.gpu_check`: prove or disprove the GPU path in one short run.

Sections, in order of what a time-out should leave: the machine; parity of torch
fp16/bf16 against fp32 on the CPU; the CUDA-stream executor end to end; how many
25 FPS streams one device sustains with clips batched across streams; speed and
latency per renderer, size and step count; ONNX Runtime's CUDA provider; TensorRT.
Each section writes its result into one JSON file as soon as it has one (a time-out
still leaves numbers), and a failing section is recorded and the next one runs.

Without CUDA the same functions run on the CPU at tiny sizes and the CUDA-only parts
say "no CUDA" (CI runs it that way: test/test_gpu_check.py). docs/ENGINE.md, "GPU check".
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from avatar.model_runtime.engine.gpu_parity import NO_CUDA
from avatar.model_runtime.engine.planner import LIVE_CLIP
from avatar.model_runtime.engine.timeline import SAMPLE_RATE

DEFAULT_BUDGET_S = 420.0     # the whole check, installs excluded: scripts/gpu_check.sh passes what is left


@dataclass(frozen=True)
class Plan:
    """What one mode runs: sizes, step counts, seconds of audio, stream counts."""
    parity_size: int
    parity_frames: int
    executor_size: int
    executor_steps: int
    executor_seconds: float
    bench_grid: tuple              # ((size, steps), ...)
    bench_seconds: float
    dtype: str                     # the engine's dtype on this device
    stream_runs: tuple             # ((size, clip), ...)
    stream_steps: int
    stream_candidates: tuple       # stream counts B, ascending
    max_t: int = 16                # TensorRT profiles' longest clip


def plan_for(cuda: bool, quick: bool) -> Plan:
    if not cuda:
        return Plan(64, 4, 64, 1, 1.0, ((64, 1),), 2.0, "fp32", ((64, 4),), 1, (1, 2))
    grid = ((256, 1), (256, 2), (256, 4), (512, 2)) if quick else tuple(
        (s, k) for s in (256, 384, 512) for k in (1, 2, 4))
    runs = ((256, 8), (256, 4)) if quick else ((256, 8), (256, 4), (384, 8), (512, 8))
    return Plan(256, 8, 256, 2, 2.0, grid, 3.0 if quick else 4.0, "bf16", runs, 2,
                (1, 2, 4, 8, 12, 16, 24, 32, 48, 64))


class CheckLog:
    """The one JSON file, rewritten (atomically) after every change."""

    def __init__(self, path: Path):
        self.path, self.data = path, {}

    def put(self, key: str, value) -> None:
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_plain(self.data), indent=1))
        os.replace(tmp, self.path)


def _plain(x):
    """JSON without NaN/Infinity (not JSON): non-finite floats become the strings "nan", "inf"."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


@dataclass
class Context:
    log: CheckLog
    plan: Plan
    device: torch.device
    image: np.ndarray              # (H, W, 3) uint8 the bundled portrait
    wave: np.ndarray               # (S,) float32 16 kHz speech-like audio
    work: Path                     # scratch: ONNX files, TensorRT plans
    deadline: float                # time.monotonic() past which sections are skipped
    notes: list
    parity_model: object = None    # fp32 CPU AvatarModel at plan.parity_size
    parity_inputs: object = None   # gpu_parity.ParityInputs

    def parity(self, key: str, value) -> None:
        """Record one parity entry: a value, or a function making it (its exception is the entry)."""
        if callable(value):
            try:
                value = value()
            except Exception as err:   # one backend failing (a missing kernel, say) is a result, not the end
                value = {"error": f"{type(err).__name__}: {err}"[:2000]}
        self.log.put("parity", {**self.log.data.get("parity", {}), key: value})
        print(f"[gpu-check]   parity {key}: {_brief(value)}", flush=True)


def _brief(entry) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    if "pass" in entry:
        return "pass" if entry["pass"] else "FAIL"
    return str(entry.get("skipped") or entry.get("error"))


# --- sections -----------------------------------------------------------------------------------
def section_env(ctx: Context):
    from avatar.model_runtime.engine.gpu_report import environment
    return environment(ctx.device)


def _parity_inputs(ctx: Context):
    """The fp32 CPU model and fixed inputs every parity section compares against (made once)."""
    from avatar.model_runtime.avatar_model import AvatarModel
    from avatar.model_runtime.engine.gpu_parity import parity_inputs

    if ctx.parity_inputs is None:
        ctx.parity_model = AvatarModel.load(None, device="cpu", dtype="fp32", size=ctx.plan.parity_size)
        ctx.parity_inputs = parity_inputs(ctx.parity_model, ctx.image, ctx.wave, frames=ctx.plan.parity_frames)
    return ctx.parity_inputs


def section_parity_torch(ctx: Context):
    from avatar.model_runtime.engine.gpu_parity import torch_parity

    _parity_inputs(ctx)
    dtypes = ("fp32", "fp16", "bf16") if ctx.device.type == "cuda" else ("fp16", "bf16")
    for dtype in dtypes:
        ctx.parity(f"torch_{dtype}", lambda: torch_parity(ctx.parity_model, ctx.parity_inputs, ctx.device, dtype))
    if ctx.device.type != "cuda":
        ctx.parity("torch_cuda", NO_CUDA)
    return "done"


def section_executor(ctx: Context):
    from avatar.model_runtime.engine.gpu_bench import executor_check

    p = ctx.plan
    wave = ctx.wave[:int(p.executor_seconds * SAMPLE_RATE)]
    return executor_check(ctx.image, wave, p.executor_size, p.executor_steps, clip=LIVE_CLIP, device=ctx.device)


def section_streams(ctx: Context):
    from avatar.model_runtime.avatar_model import AvatarModel
    from avatar.model_runtime.engine.bench import speechlike
    from avatar.model_runtime.engine.multi_stream import max_streams

    waves = np.stack([speechlike(8.0, seed=k) for k in range(8)])                  # (8, S) distinct voices
    runs = []
    for size, clip in ctx.plan.stream_runs:
        if time.monotonic() > ctx.deadline:
            runs.append({"size": size, "clip": clip, "skipped": "time budget"})
            continue
        model = AvatarModel.load(None, device=str(ctx.device), dtype=ctx.plan.dtype, size=size)
        runs.append(max_streams(model, ctx.image, waves, list(ctx.plan.stream_candidates), clip,
                                ctx.plan.stream_steps, ctx.deadline, every=ctx.device.type != "cuda"))
        ctx.log.put("multi_stream", {"runs": runs})
        print(f"[gpu-check]   {size} px, clip {clip}: {runs[-1]['max_streams_at_25fps']} streams", flush=True)
    target = next((r for r in runs if r.get("size") == 256 and "rows" in r), None)
    return {"runs": runs, "target": "8 streams at 256 px",
            "target_met": None if target is None else target["max_streams_at_25fps"] >= 8}


def section_bench(ctx: Context):
    from avatar.model_runtime.engine.gpu_bench import bench_grid, motion_source, renderer_classes_or_diffusion

    classes = renderer_classes_or_diffusion(ctx.notes)
    motion, motion_name = motion_source(ctx.notes)
    ctx.log.put("notes", ctx.notes)
    rows = bench_grid(classes, motion, ctx.image, list(ctx.plan.bench_grid), str(ctx.device), ctx.plan.dtype,
                      ctx.plan.bench_seconds, ctx.deadline,
                      record=lambda rows: ctx.log.put("bench", {"motion": motion_name, "rows": rows}))
    for r in rows:
        print(f"[gpu-check]   {r.get('renderer')} {r.get('size')} px {r.get('steps')} steps: "
              f"{r.get('fps', r.get('skipped') or r.get('error'))} FPS", flush=True)
    return {"motion": motion_name, "rows": rows}


def section_onnx(ctx: Context):
    import onnxruntime

    from avatar.model_runtime.engine.gpu_parity import export_for_parity, onnx_parity

    _parity_inputs(ctx)
    onnx_dir = export_for_parity(ctx.parity_model, ctx.image, ctx.work / "onnx", int8=True)
    if ctx.device.type != "cuda":
        ctx.parity("onnxruntime_cuda", NO_CUDA)
    elif "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        ctx.parity("onnxruntime_cuda", {"skipped": f"onnxruntime {onnxruntime.__version__} has no CUDA provider "
                                                   "(onnxruntime-gpu not installed)"})
    else:
        ctx.parity("onnxruntime_cuda_fp32", lambda: onnx_parity(ctx.parity_model, ctx.parity_inputs, onnx_dir,
                                                                "fp32", "CUDAExecutionProvider"))
    for precision in ("fp32", "int8"):
        ctx.parity(f"onnxruntime_cpu_{precision}", lambda: onnx_parity(ctx.parity_model, ctx.parity_inputs,
                                                                       onnx_dir, precision, "CPUExecutionProvider"))
    return "done"


def section_tensorrt(ctx: Context):
    from avatar.model_runtime.engine.gpu_parity import tensorrt_parity

    if ctx.device.type != "cuda":
        ctx.parity("tensorrt_fp16", NO_CUDA)
        ctx.parity("tensorrt_int8", NO_CUDA)
        return "done"
    if not (ctx.work / "onnx" / "decoder.onnx").is_file():
        ctx.parity("tensorrt_fp16", {"skipped": "no ONNX files: the ONNX Runtime section failed"})
        return "skipped"
    ctx.parity("tensorrt_fp16", lambda: tensorrt_parity(ctx.parity_model, ctx.parity_inputs, ctx.work / "onnx",
                                                        ctx.work / "tensorrt", ctx.plan.max_t))
    result = ctx.log.data["parity"]["tensorrt_fp16"]
    ctx.parity("tensorrt_int8", result.get("int8") or result.get("skipped") or result.get("error"))
    return "done"


# (name, function, seconds it needs at least on CUDA, key it records under; None: it records itself)
SECTIONS = (("env", section_env, 0, "env"), ("parity_torch", section_parity_torch, 20, None),
            ("executor", section_executor, 30, "executor"), ("multi_stream", section_streams, 40, "multi_stream"),
            ("bench", section_bench, 40, "bench"), ("parity_onnx", section_onnx, 40, None),
            ("parity_tensorrt", section_tensorrt, 120, None))


def run_section(ctx: Context, name: str, fn, min_s: float, key: str | None) -> None:
    left = ctx.deadline - time.monotonic()
    timing = ctx.log.data.setdefault("seconds_per_section", {})
    if ctx.device.type == "cuda" and left < min_s:
        ctx.log.put(key or name, {"skipped": f"time budget ({left:.0f} s left, needs ~{min_s} s)"})
        return
    print(f"[gpu-check] {name} ({left:.0f} s of the budget left)", flush=True)
    t0 = time.perf_counter()
    try:
        result = fn(ctx)
        if key is not None:
            ctx.log.put(key, result)
    except Exception as err:           # the check goes on: one broken part must not hide the others
        entry = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-3000:]}
        ctx.log.put(key or f"{name}_error", {**(ctx.log.data.get(key, {}) if key else {}), **entry})
        print(f"[gpu-check]   {name} failed: {entry['error']}", flush=True)
    timing[name] = round(time.perf_counter() - t0, 1)
    ctx.log.put("seconds_per_section", timing)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m avatar.model_runtime.engine.gpu_check",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/gpu-check"), help="folder for gpu_check.json and .md")
    p.add_argument("--quick", action="store_true", help="a subset of the speed grid")
    p.add_argument("--cpu", action="store_true", help="CPU mode even where CUDA exists")
    p.add_argument("--only", nargs="+", choices=[name for name, *_ in SECTIONS], default=None,
                   help="run these sections alone (a rerun after a fix); env always runs")
    p.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="skip what would not fit after this")
    p.add_argument("--install-json", type=Path, default=None, help="install timings written by gpu_check.sh")
    p.add_argument("--record", type=Path, nargs="?", const=Path("BENCHMARKS.md"), default=None,
                   help="append the Markdown tables here (always done on CUDA, to BENCHMARKS.md by default)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from avatar.core.image_io import load_image
    from avatar.core.paths import asset
    from avatar.model_runtime.engine.bench import speechlike
    from avatar.model_runtime.engine.gpu_report import markdown

    args = parse_args(argv)
    started = time.monotonic()
    cuda = torch.cuda.is_available() and not args.cpu
    plan = plan_for(cuda, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    log = CheckLog(args.out / "gpu_check.json")
    log.put("status", "running")
    log.put("cuda", cuda)
    log.put("mode", ("cuda" if cuda else "cpu") + (" quick" if args.quick else ""))
    log.put("plan", asdict(plan))
    if args.install_json is not None and args.install_json.is_file():
        log.put("install", json.loads(args.install_json.read_text()))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        ctx = Context(log, plan, torch.device("cuda" if cuda else "cpu"), load_image(asset("portrait.png")),
                      speechlike(8.0), Path(work), started + args.budget_s, [])
        for name, fn, min_s, key in SECTIONS:
            if args.only is None or name in args.only or name == "env":
                run_section(ctx, name, fn, min_s, key)
    log.put("notes", ctx.notes)
    log.put("seconds", round(time.monotonic() - started, 1))
    log.put("status", "done")
    command = "bash scripts/gpu_check.sh" + (" --quick" if args.quick else "")
    md = markdown(log.data, command)
    (args.out / "gpu_check.md").write_text(md)
    record = args.record if args.record is not None else (Path("BENCHMARKS.md") if cuda else None)
    if record is not None:
        with record.open("a") as f:
            f.write(md)
        print(f"[gpu-check] appended the tables to {record}", flush=True)
    print(md, flush=True)
    print(f"[gpu-check] done in {log.data['seconds']} s: {args.out / 'gpu_check.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

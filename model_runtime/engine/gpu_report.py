"""The GPU check's machine description and its Markdown tables (appended to BENCHMARKS.md)."""
from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess

import torch

from avatar.model_runtime.engine.bench import cpu_info
from avatar.model_runtime.engine.gpu_parity import NO_CUDA


def nvidia_smi(query: str) -> str | None:
    """One field of ``nvidia-smi --query-gpu`` for GPU 0, or None without the tool."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True,
                         text=True, timeout=30)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _package_version(name: str) -> str:
    try:
        module = __import__(name)
    except ImportError:
        return "not installed"
    return getattr(module, "__version__", "unknown")


def environment(device: torch.device) -> dict:
    env = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "cuda": device.type == "cuda", "torch": torch.__version__, "torch_cuda": torch.version.cuda,
           "python": platform.python_version(), "cpu": cpu_info()["model"], "cores": os.cpu_count(),
           "onnxruntime": _package_version("onnxruntime"), "tensorrt": _package_version("tensorrt")}
    try:
        import onnxruntime
        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        env["onnxruntime_providers"] = []
    if device.type != "cuda":
        env["gpu"] = NO_CUDA
        return env
    props = torch.cuda.get_device_properties(device)
    env.update(gpu=props.name, capability=f"{props.major}.{props.minor}",
               gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
               multiprocessors=props.multi_processor_count, driver=nvidia_smi("driver_version"),
               cudnn=torch.backends.cudnn.version())
    return env


def _num(x, digits: int = 3) -> str:
    if isinstance(x, (int, float)):
        return f"{x:.{digits}g}" if isinstance(x, float) else str(x)
    return str(x)


def _verdict(entry: dict) -> str:
    if "pass" in entry:
        return "pass" if entry["pass"] else "FAIL"
    return next((str(entry[k]) for k in ("skipped", "error") if k in entry), "?")


def parity_table(parity: dict) -> list[str]:
    rows = ["| check | where | denoiser max rel err (tol) | decoder max rel err (tol) | decoded PSNR dB (min) "
            "| result |", "|---|---|---|---|---|---|"]
    for name, e in parity.items():
        if not isinstance(e, dict) or "denoiser" not in e:
            rows.append(f"| {name} | | | | | {_verdict(e) if isinstance(e, dict) else e} |")
            continue
        den, dec = e["denoiser"], e["decoder"]
        where = e.get("device") or e.get("provider") or ("tensorrt " + e.get("tensorrt", ""))
        note = f" (first non-finite: {den['first_nonfinite']})" if den.get("first_nonfinite") else ""
        rows.append(f"| {name} | {where} | {_num(den['rel'])} ({den['rel_tol']}){note} | {_num(dec['rel'])} "
                    f"({dec['rel_tol']}) | {_num(dec['psnr_db'])} ({dec['psnr_tol_db']}) | {_verdict(e)} |")
    return rows


def executor_table(e: dict) -> list[str]:
    if "pass" not in e:
        return [f"Executor: {_verdict(e)}"]
    return ["| executor | crop | steps | frames (device / cpu) | min PSNR dB (tol) | max abs diff | result |",
            "|---|---|---|---|---|---|---|",
            f"| {e['executor']} | {e['size']} | {e['steps']} | {e['frames'][0]} / {e['frames'][1]} | "
            f"{_num(e['min_psnr_db'])} ({e['psnr_tol_db']}) | {e['max_abs_diff']} | {_verdict(e)} |"]


def bench_table(rows: list[dict]) -> list[str]:
    out = ["| renderer | crop | steps | dtype | FPS | first clip ms | a2f p50 / p95 ms | live FPS "
           "| features / denoise / decode / paste ms/frame |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "fps" not in r:
            out.append(f"| {r['renderer']} | {r['size']} | {r.get('steps', '')} | | | | | | "
                       f"{r.get('skipped') or r.get('error')} |")
            continue
        st = r["stages_ms_per_frame"]
        per = " / ".join(str(st.get(k, "")) for k in ("features", "denoise", "decode", "paste"))
        out.append(f"| {r['renderer']} | {r['size']} | {r['steps']} | {r['dtype']} | {r['fps']} | "
                   f"{r['first_clip_ms']} | {r['audio_to_frame_ms_p50']} / {r['audio_to_frame_ms_p95']} | "
                   f"{r['live_fps']} | {per} |")
    return out


def streams_table(runs: list[dict]) -> list[str]:
    out = ["| crop | clip | steps | max streams at 25 FPS | B: step ms (FPS per stream) | stopped |",
           "|---|---|---|---|---|---|"]
    for r in runs:
        if "rows" not in r:
            out.append(f"| {r.get('size', '')} | {r.get('clip', '')} | | | | {_verdict(r)} |")
            continue
        steps = ", ".join(f"{x['streams']}: {x['step_ms']} ({x['fps_per_stream']})" for x in r["rows"])
        out.append(f"| {r['size']} | {r['clip']} | {r['steps']} | {r['max_streams_at_25fps']} | {steps} "
                   f"| {r['stopped']} |")
    return out


def markdown(data: dict, command: str) -> str:
    env = data.get("env", {})
    machine = (f"{env.get('gpu')} (driver {env.get('driver')}, CUDA {env.get('torch_cuda')}, "
               f"torch {env.get('torch')})" if env.get("cuda") else
               f"{NO_CUDA}: {env.get('cpu')} ({env.get('cores')} cores, torch {env.get('torch')})")
    install = data.get("install", {})
    lines = [f"\n## GPU check, {env.get('date_utc', '?')} UTC: {machine}\n",
             f"Command: `{command}`; mode {data.get('mode')}; whole run {data.get('seconds', '?')} s"
             + (f"; install {install.get('seconds')} s ({install.get('how')})" if install else "") + ".\n"]
    parts = (("parity", "Parity against fp32 torch on the CPU (errors relative to the output's scale):",
              parity_table),
             ("executor", "CUDA-stream executor end to end (fp32):", executor_table),
             ("bench", "Speed (bench.py's measurements):", lambda d: bench_table(d.get("rows", []))),
             ("multi_stream", "Concurrent streams, clips batched across streams (crops; paste-back is "
              "per-stream CPU work):", lambda d: streams_table(d.get("runs", []))))
    for key, title, table in parts:
        if isinstance(data.get(key), dict):
            lines += [title + "\n", *table(data[key]), ""]
    errors = [f"- {k}: {v['error']}" for k, v in data.items() if isinstance(v, dict) and "error" in v]
    if errors:
        lines += ["Sections that failed (tracebacks in gpu_check.json):", *errors]
    skipped = [f"- {k}: {v['skipped']}" for k, v in data.items() if isinstance(v, dict) and "skipped" in v]
    if skipped:
        lines += ["", "Sections skipped:", *skipped]
    notes = data.get("notes", [])
    if notes:
        lines += ["", "Notes:", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"

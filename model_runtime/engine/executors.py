"""How pipeline stages execute: CPU threads as they are, or one CUDA stream per stage.

On a GPU each stage enqueues its kernels on its own stream; an event recorded at
the end of a stage's work is waited on (on the device, not the host) by the next
stage's stream, so stages overlap on the GPU while keeping their order. The
decoder's output is copied into pinned host memory with a non-blocking copy and
synchronised only when the frame is emitted. Guarded by availability: on a
CPU-only machine (this project's CI) the stages run as they are, one thread each:
torch ops release the GIL, so they run on separate cores.
"""
from collections.abc import Callable

import torch


def cuda_stages(stages: list[tuple[str, Callable]], device: torch.device) -> list[tuple[str, Callable]]:
    """Wrap each stage so that it runs on its own CUDA stream, ordered by events."""
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA executor requested but no CUDA device is available")
    wrapped = []
    for name, fn in stages:
        stream = torch.cuda.Stream(device=device)
        wrapped.append((name, _on_stream(fn, stream)))
    return wrapped


def _on_stream(fn: Callable, stream: "torch.cuda.Stream") -> Callable:
    def run(job):
        ready = getattr(job, "cuda_event", None)
        if ready is not None:
            stream.wait_event(ready)             # device-side wait for the previous stage
        with torch.cuda.stream(stream):
            out = fn(job)
            event = torch.cuda.Event()
            event.record(stream)
        out.cuda_event = event
        return out
    return run


def to_host_pinned(x: torch.Tensor) -> torch.Tensor:
    """Start an asynchronous device-to-host copy into pinned memory (sync before reading)."""
    if x.device.type != "cuda":
        return x
    host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
    host.copy_(x, non_blocking=True)
    return host

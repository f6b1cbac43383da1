"""Shared training-loop machinery: DDP setup, EMA, logging, time/step budget, resumable state."""
import copy
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm


@dataclass
class LoopConfig:
    out: str
    steps: int = 0                 # 0 = no step limit
    minutes: float = 0.0           # 0 = no time limit
    batch: int = 64                # frames per optimiser step (per process)
    lr: float = 3e-4
    ema: float = 0.999
    save_minutes: float = 3.0
    seed: int = 0
    threads: int = 2
    resume: bool = False


def setup_distributed() -> tuple[int, int]:
    """(rank, world) from torchrun's environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class EMA:
    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        for e, p in zip(self.module.parameters(), module.parameters()):
            e.lerp_(p.detach(), 1 - self.decay)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)


class Run:
    """One training run in RUN_DIR: log file, periodic checkpoints, resume, budget."""

    def __init__(self, cfg: LoopConfig, rank: int = 0):
        self.cfg, self.rank = cfg, rank
        self.dir = Path(cfg.out)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.step, self.start = 0, time.monotonic()
        self.last_save = self.start
        self.bar = tqdm(total=cfg.steps or None, disable=rank != 0, dynamic_ncols=True)
        self.stop_signal: int | None = None
        self._old_handlers = {}
        distributed = dist.is_available() and dist.is_initialized()
        if threading.current_thread() is threading.main_thread() and not distributed:
            # SIGINT/SIGTERM end the run at the next step boundary, with a final checkpoint
            # (a background job started from a script ignores SIGINT: SIGTERM is what stops it).
            # Not under DDP: ranks stopping at different steps would hang the all-reduce.
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum

    @property
    def state_path(self) -> Path:
        return self.dir / "state.pt"

    def log(self, message: str) -> None:
        if self.rank == 0:
            with open(self.dir / "train.log", "a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def done(self) -> bool:
        cfg = self.cfg
        over_steps = cfg.steps and self.step >= cfg.steps
        over_time = cfg.minutes and time.monotonic() - self.start >= cfg.minutes * 60
        return bool(over_steps or over_time or self.stop_signal is not None)

    def tick(self, losses: dict) -> None:
        self.step += 1
        self.bar.update(1)
        if self.rank == 0 and (self.step % 10 == 0 or self.step == 1):
            text = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
            self.bar.set_postfix_str(text)
            self.log(f"step {self.step} {text}")

    def should_save(self) -> bool:
        due = time.monotonic() - self.last_save >= self.cfg.save_minutes * 60
        return self.rank == 0 and due and not self.done()

    def save_state(self, state: dict) -> None:
        self.last_save = time.monotonic()
        tmp = self.state_path.with_suffix(".tmp")
        torch.save({**state, "step": self.step}, tmp)
        tmp.replace(self.state_path)

    def load_state(self) -> dict | None:
        if not (self.cfg.resume and self.state_path.is_file()):
            return None
        state = torch.load(self.state_path, map_location="cpu", weights_only=False)
        self.step = int(state["step"])
        self.bar.update(self.step)
        self.log(f"resumed at step {self.step}")
        return state

    def close(self) -> None:
        self.bar.close()
        if self.stop_signal is not None:
            self.log(f"stopped by signal {signal.Signals(self.stop_signal).name} at step {self.step}")
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)


def warmup_lr(step: int, base: float, warmup: int = 200) -> float:
    """Linear warm-up then constant: runs are time-boxed, so no fixed horizon to decay over."""
    return base * min(1.0, (step + 1) / warmup)

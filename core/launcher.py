"""Run the node graph as child processes, without the ROS launch system.

``launch``/``launch_ros`` are not installable from PyPI, so pip users get this
small supervisor instead. Each node is a separate process started exactly as
``ros2 run`` would (same module, same params file, remapped node name); the
YAML written here only adds the command-line overrides on top of the config.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from avatar.core.errors import InputError
from avatar.core.graph import NodeSpec


def _write_overrides(specs: list[NodeSpec], directory: Path) -> Path:
    doc = {s.name: {"ros__parameters": dict(s.overrides)} for s in specs if s.overrides}
    path = directory / "overrides.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def node_command(spec: NodeSpec, config: Path, overrides: Path, python: str = sys.executable) -> list[str]:
    return [python, "-m", f"avatar.nodes.{spec.executable}", "--ros-args",
            "-r", f"__node:={spec.name}", "--params-file", str(config), "--params-file", str(overrides)]


class GraphRunner:
    """Starts every node, waits for a duration or a signal, then stops them all cleanly."""

    def __init__(self, specs: list[NodeSpec], config: Path, log: Callable[[str], None] = print,
                 stop_timeout_s: float = 10.0, ready_timeout_s: float = 120.0):
        if not config.is_file():
            raise InputError(f"config file not found: {config}")
        self._specs = specs
        self._config = config
        self._log = log
        self._stop_timeout_s = stop_timeout_s
        self._ready_timeout_s = ready_timeout_s
        self._procs: dict[str, subprocess.Popen] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="avatar-launch-")
        self._ready_dir = Path(self._tmp.name) / "ready"
        self._ready_dir.mkdir()

    def start(self) -> float:
        """Start the consumers, wait until they are up (model loaded, subscribed), then the audio
        sources, so that no speech is played to a graph still loading. Returns the seconds it took."""
        t0 = time.monotonic()
        overrides = _write_overrides(self._specs, Path(self._tmp.name))
        for group in ([s for s in self._specs if not s.source], [s for s in self._specs if s.source]):
            for spec in group:
                cmd = node_command(spec, self._config, overrides)
                env = dict(os.environ, AVATAR_READY_DIR=str(self._ready_dir))
                self._procs[spec.name] = subprocess.Popen(cmd, env=env)
                self._log(f"[launch] started {spec.name} (pid {self._procs[spec.name].pid})")
            self._wait_ready([s.name for s in group])
        elapsed = time.monotonic() - t0
        self._log(f"[launch] graph up in {elapsed:.1f} s")
        return elapsed

    def _wait_ready(self, names: list[str]) -> None:
        """Until each node announced itself or exited (its exit is reported by ``wait``)."""
        deadline = time.monotonic() + self._ready_timeout_s
        pending = set(names)
        while pending and time.monotonic() < deadline:
            pending = {n for n in pending
                       if not (self._ready_dir / n).exists() and self._procs[n].poll() is None}
            time.sleep(0.05)  # polling marker files, not pacing data
        if pending:
            self._log(f"[launch] still not up after {self._ready_timeout_s:.0f} s: {sorted(pending)}; going on")

    def wait(self, duration_s: float | None) -> None:
        """Block until ``duration_s`` passes or every node has exited."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        reported: set[str] = set()
        while deadline is None or time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None and name not in reported:
                    reported.add(name)
                    self._log(f"[launch] {name} exited with code {proc.returncode}")
            if len(reported) == len(self._procs):
                return
            time.sleep(0.1)  # polling child status, not pacing data

    def stop(self) -> dict[str, int]:
        """SIGINT every live node (rclpy shuts down cleanly on it), escalate on timeout."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = {}
        for name, proc in self._procs.items():
            try:
                proc.wait(timeout=self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._log(f"[launch] {name} did not stop within {self._stop_timeout_s} s; terminating")
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            codes[name] = proc.returncode
        self._tmp.cleanup()
        return codes

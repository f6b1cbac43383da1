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
                 stop_timeout_s: float = 10.0):
        if not config.is_file():
            raise InputError(f"config file not found: {config}")
        self._specs = specs
        self._config = config
        self._log = log
        self._stop_timeout_s = stop_timeout_s
        self._procs: dict[str, subprocess.Popen] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="avatar-launch-")

    def start(self) -> None:
        overrides = _write_overrides(self._specs, Path(self._tmp.name))
        for spec in self._specs:
            cmd = node_command(spec, self._config, overrides)
            self._procs[spec.name] = subprocess.Popen(cmd, env=os.environ.copy())
            self._log(f"[launch] started {spec.name} (pid {self._procs[spec.name].pid})")

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

"""Run the node graph as supervised child processes, without the ROS launch system.

``launch``/``launch_ros`` are not installable from PyPI, so pip users get this
small supervisor instead. Each node is a separate process started as ``ros2 run``
would (same module, remapped node name, namespace), with its parameters (the
YAML's section plus the command-line overrides) in a ros__parameters file of its own.
It lives beside the nodes, not in core/, because it is ROS glue (--ros-args, parameter
files, lifecycle bring-up).

Supervision, like launch's ``respawn``: a node that dies after start-up is
restarted after a delay that doubles each time (up to a cap), with an ERROR line
naming it and its exit code; after ``max_respawns`` restarts in a row the graph
is stopped. A node that fails during start-up (before it announced itself ready)
stops the whole graph: ``start()`` raises :class:`StartupError` with its reason.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import yaml

from avatar.core.errors import AvatarError, InputError
from avatar.core.graph import (MAX_RESPAWNS, RESPAWN_DELAY_S, RESPAWN_MAX_DELAY_S, NodeSpec, check_namespace,
                               namespace_remaps, node_parameters, restart_overrides)

# A node that ran this long since its last (re)start is healthy again: its restart count resets.
STABLE_S = 60.0


class StartupError(AvatarError):
    """A node could not start: the graph was stopped."""


def node_command(spec: NodeSpec, params: Path, namespace: str = "", python: str = sys.executable) -> list[str]:
    cmd = [python, "-m", f"avatar.nodes.{spec.executable}", "--ros-args", "-r", f"__node:={spec.name}"]
    if check_namespace(namespace):
        cmd += ["-r", f"__ns:=/{check_namespace(namespace)}"]
        for src, dst in namespace_remaps(namespace):
            cmd += ["-r", f"{src}:={dst}"]
    return cmd + ["--params-file", str(params)]


def _signal_name(code: int) -> str:
    """ " (SIGKILL)" for a negative return code (killed by a signal), else ""."""
    if code < 0:
        try:
            return f" ({signal.Signals(-code).name})"
        except ValueError:
            return ""
    return ""


def _write_params(path: Path, params: dict) -> None:
    # "/**": applies whatever the node's name and namespace (see graph.node_parameters).
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))


class _Child:
    """One node process, its restarts, and the tail of its stderr (passed through to ours)."""

    def __init__(self, spec: NodeSpec, cmd: list[str], env: dict, params: dict, params_file: Path):
        self.spec, self.cmd, self.env = spec, cmd, env
        self.params, self.params_file = params, params_file
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restarts = 0                 # restarts in a row (reset once it ran STABLE_S)
        self.total_restarts = 0
        self.restart_at: float | None = None
        self.tail: deque[str] = deque(maxlen=20)
        self.done = False                 # exited on its own with code 0: not restarted
        self.bring_up: threading.Thread | None = None   # a managed node being driven to active
        self.bring_up_error: str | None = None

    def spawn(self) -> int:
        self.tail.clear()                 # a new life: the last one's words no longer explain anything
        self.proc = subprocess.Popen(self.cmd, env=self.env, stderr=subprocess.PIPE)
        self.started_at = time.monotonic()
        self.restart_at = None
        threading.Thread(target=self._forward, args=(self.proc.stderr,), daemon=True,
                         name=f"stderr-{self.spec.name}").start()
        return self.proc.pid

    def _forward(self, stream) -> None:
        # The node's log goes on to our stderr unchanged; the last lines explain a failure.
        for raw in stream:
            line = raw.decode(errors="replace")
            sys.stderr.write(line)
            sys.stderr.flush()
            self.tail.append(line.rstrip())
        stream.close()

    def reason(self, fallback_last: bool = True) -> str:
        """The node's own explanation as ": <line>": its last error line, else (``fallback_last``) its
        last line; "" when it said nothing useful (a SIGKILL leaves no word)."""
        lines = [ln.strip() for ln in self.tail if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        chosen = errors or (lines if fallback_last else [])
        return f": {chosen[-1]}" if chosen else ""

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


class GraphRunner:
    """Starts every node, supervises them until a duration or a signal, then stops them all cleanly."""

    def __init__(self, specs: list[NodeSpec], config: Path, log: Callable[[str], None] = print,
                 stop_timeout_s: float = 10.0, ready_timeout_s: float = 120.0, namespace: str = "",
                 respawn_delay_s: float = RESPAWN_DELAY_S, max_respawns: int = MAX_RESPAWNS,
                 bring_up: Callable[[str], None] | None = None):
        if not config.is_file():
            raise InputError(f"config file not found: {config}")
        if respawn_delay_s < 0 or max_respawns < 0:
            raise InputError("the respawn delay and the restart count must not be negative")
        self._log = log
        # Drives a managed node (full name) to active; raises AvatarError. None: they stay unconfigured.
        self._bring_up = bring_up
        self._namespace = check_namespace(namespace)
        self._stop_timeout_s = stop_timeout_s
        self._ready_timeout_s = ready_timeout_s
        self._respawn_delay_s, self._max_respawns = respawn_delay_s, max_respawns
        self._tmp = tempfile.TemporaryDirectory(prefix="avatar-launch-")
        tmp = Path(self._tmp.name)
        self._ready_dir = tmp / "ready"
        self._ready_dir.mkdir()
        env = dict(os.environ, AVATAR_READY_DIR=str(self._ready_dir), PYTHONUNBUFFERED="1")
        self._children: dict[str, _Child] = {}
        for spec in specs:
            params, params_file = node_parameters(config, spec), tmp / f"{spec.name}.yaml"
            _write_params(params_file, params)
            self._children[spec.name] = _Child(spec, node_command(spec, params_file, namespace), env, params,
                                               params_file)
        self._stopped = False
        self.failure: str | None = None   # why the graph was stopped early (a node gave up)

    def start(self) -> float:
        """Start the consumers, wait until they are up (model loaded, subscribed), then the audio
        sources, so that no speech is played to a graph still loading. Returns the seconds it took.
        A node that exits with an error before it is up stops the graph (StartupError)."""
        t0 = time.monotonic()
        children = list(self._children.values())
        for group in ([c for c in children if not c.spec.source], [c for c in children if c.spec.source]):
            for child in group:
                pid = self._spawn(child)
                self._log(f"[launch] started {child.spec.name} (pid {pid})")
            failed = self._wait_ready(group)
            if failed is None:
                self._wait_active(group)
            if failed is not None:
                message = (f"{failed.spec.name} could not start (exit code {failed.proc.returncode}"
                           f"{_signal_name(failed.proc.returncode)}){failed.reason()}")
                self.stop()
                raise StartupError(message)       # the CLI prints it: one line, exit code 1
        elapsed = time.monotonic() - t0
        self._log(f"[launch] graph up in {elapsed:.1f} s")
        return elapsed

    def _spawn(self, child: _Child) -> int:
        """Start (or restart) a node; a managed one is then driven to active on a thread of its own."""
        pid = child.spawn()
        if child.spec.lifecycle and self._bring_up is not None:
            child.bring_up = threading.Thread(target=self._activate, args=(child,), daemon=True,
                                              name=f"lifecycle-{child.spec.name}")
            child.bring_up.start()
        return pid

    def _activate(self, child: _Child) -> None:
        name = "/".join(("", self._namespace, child.spec.name)) if self._namespace else f"/{child.spec.name}"
        try:
            self._bring_up(name)
            child.bring_up_error = None
            self._log(f"[launch] {child.spec.name} is active (lifecycle)")
        except AvatarError as err:
            child.bring_up_error = str(err)
            self._log(f"[launch] ERROR: {err}")

    def _wait_active(self, group: list[_Child]) -> None:
        """Until the group's managed nodes are active; StartupError if one could not be brought up."""
        for child in group:
            while child.bring_up is not None and child.bring_up.is_alive() and child.exited() is None:
                child.bring_up.join(0.1)
            if child.bring_up_error is not None:
                message = (f"{child.spec.name} could not start (not brought to active: {child.bring_up_error})"
                           f"{child.reason()}")
                self._log(f"[launch] ERROR: {message}; stopping the graph")
                self.stop()
                raise StartupError(message)

    def _wait_ready(self, group: list[_Child]) -> _Child | None:
        """Until each node announced itself; the first that exited with an error, if any."""
        deadline = time.monotonic() + self._ready_timeout_s
        pending = list(group)
        while pending and time.monotonic() < deadline:
            for child in pending:
                code = child.exited()
                if code not in (None, 0):
                    return child
            pending = [c for c in pending if not (self._ready_dir / c.spec.name).exists() and c.exited() is None]
            time.sleep(0.05)  # polling marker files, not pacing data
        if pending:
            names = sorted(c.spec.name for c in pending)
            self._log(f"[launch] still not up after {self._ready_timeout_s:.0f} s: {names}; going on")
        return None

    def wait(self, duration_s: float | None) -> None:
        """Supervise until ``duration_s`` passes, every node has ended cleanly, or a node used up
        its restarts (then ``failure`` says which)."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while (deadline is None or time.monotonic() < deadline) and not self._stopped:
            for child in self._children.values():
                self._supervise(child)
                if self.failure is not None:
                    return
            if all(c.done for c in self._children.values()):
                return
            time.sleep(0.1)  # polling child status, not pacing data

    def _supervise(self, child: _Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at and not self._stopped:
                self._restart_parameters(child)
                pid = self._spawn(child)
                self._log(f"[launch] restarted {child.spec.name} (pid {pid}, restart {child.restarts} "
                          f"of {self._max_respawns})")
            return
        code = child.exited()
        if code is None or child.done:
            if code is None and child.restarts and now - child.started_at > STABLE_S:
                child.restarts = 0
            return
        name = child.spec.name
        if code == 0:
            # A node that ends on its own with 0 meant to (a display window closed): not restarted.
            child.done = True
            self._log(f"[launch] {name} exited cleanly (code 0); not restarted")
            return
        if child.restarts >= self._max_respawns:
            self.failure = (f"{name} exited with code {code}{_signal_name(code)} after {child.restarts} "
                            f"restart(s) in a row; giving up{child.reason(False)}")
            self._log(f"[launch] ERROR: {self.failure}; stopping the graph")
            return
        delay = min(self._respawn_delay_s * 2 ** child.restarts, RESPAWN_MAX_DELAY_S)
        child.restarts += 1
        child.total_restarts += 1
        child.restart_at = now + delay
        self._log(f"[launch] ERROR: {name} exited with code {code}{_signal_name(code)}{child.reason(False)}; "
                  f"restarting in {delay:.1f} s (restart {child.restarts} of {self._max_respawns})")

    def _restart_parameters(self, child: _Child) -> None:
        changed = restart_overrides(child.spec, child.params, child.total_restarts)
        if changed:
            _write_params(child.params_file, child.params | changed)
            self._log(f"[launch] {child.spec.name} restarts with {changed}")

    @property
    def restarts(self) -> dict[str, int]:
        return {name: c.total_restarts for name, c in self._children.items() if c.total_restarts}

    def stop(self) -> dict[str, int]:
        """SIGINT every live node (rclpy shuts down cleanly on it), escalate on timeout. Returns the
        exit codes of the nodes that were running (the others were reported as they ended)."""
        if self._stopped:
            return {}
        self._stopped = True
        live = {n: c.proc for n, c in self._children.items() if c.proc is not None and c.proc.poll() is None}
        for proc in live.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = {}
        for name, proc in live.items():
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

"""Issue 15, supervision and namespaces: `avatar launch` restarts a node that dies (ERROR line with
its name and exit code, backoff, capped), a node that cannot start stops the graph with one
line and exit code 1, a namespaced graph keeps to /NAME, and a second graph is warned about.
Real node processes, real signals, real rclpy; the launch file is checked structurally."""
import ast
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from reliability_helpers import wait_for
from ros_helpers import make_executor

from avatar.core.errors import InputError
from avatar.core.graph import (MAX_RESPAWNS, RESPAWN_DELAY_S, GraphOptions, NodeSpec, check_namespace,
                               namespace_remaps, node_parameters, plan_graph)
from avatar.nodes.launching import GraphRunner, StartupError, node_command

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "avatar.yaml"


# -- plan, parameters, namespace --------------------------------------------------------------
def test_namespace_names_and_remaps():
    assert check_namespace("/robo1/") == "robo1" and check_namespace("") == ""
    with pytest.raises(InputError):
        check_namespace("1robot")
    with pytest.raises(InputError):
        check_namespace("robot one")
    remaps = dict(namespace_remaps("robo1"))
    assert remaps["/avatar/image"] == "/robo1/avatar/image" and remaps["/robot_face/expression"] == \
        "/robo1/robot_face/expression"
    assert "/diagnostics" not in remaps and namespace_remaps("") == []
    cmd = node_command(NodeSpec("vad_state", "vad_state"), Path("p.yaml"), "robo1")
    assert "__ns:=/robo1" in cmd and "/avatar/state:=/robo1/avatar/state" in cmd


def test_node_parameters_merge_yaml_and_overrides(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"use_sim_time": False}},
                                      "recorder": {"ros__parameters": {"path": "a.mp4", "overwrite": False}}}))
    spec = next(s for s in plan_graph(GraphOptions(config=config, record="b.mp4", overwrite=True))
                if s.name == "recorder")
    assert node_parameters(config, spec) == {"use_sim_time": False, "path": "b.mp4", "overwrite": True,
                                             "format": "mp4"}


# -- the supervisor with real processes ------------------------------------------------------
@pytest.fixture
def ros_domain(monkeypatch) -> int:
    domain = random.randint(1, 100)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


@pytest.mark.ros
def test_killed_node_is_restarted_then_given_up_on(ros_domain, tmp_path):
    """Under /NAME, with its parameters: SIGKILL expression_control -> ERROR naming it and -9,
    restarted after the delay, publishing again; killed again with max 1 restart -> the graph stops."""
    import rclpy
    from rclpy.context import Context

    from avatar.msg import ExpressionControl
    from avatar.nodes.toolkit import QOS
    ns = f"robo{random.randint(100, 999)}"
    lines: list[str] = []
    specs = [NodeSpec("expression_control", "expression_control", {"rate_hz": 10.0})]
    runner = GraphRunner(specs, CONFIG, log=lines.append, namespace=ns, respawn_delay_s=0.5, max_respawns=1)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain)
    probe = rclpy.create_node("probe", context=context)
    inside, outside = [], []
    probe.create_subscription(ExpressionControl, f"/{ns}/avatar/expression", lambda m: inside.append(time.monotonic()),
                              QOS.expression)
    probe.create_subscription(ExpressionControl, "/avatar/expression", lambda m: outside.append(1), QOS.expression)
    executor = make_executor(context, probe)
    spin = lambda: executor.spin_once(timeout_sec=0.05)   # noqa: E731
    waiter = None
    try:
        runner.start()
        waiter = threading.Thread(target=runner.wait, args=(None,), daemon=True)
        waiter.start()
        assert wait_for(lambda: len(inside) >= 20, 60, spin), lines
        span = inside[-1] - inside[-20]
        assert 19 / span == pytest.approx(10.0, rel=0.25)       # rate_hz from the overrides reached /NAME
        first = runner._children["expression_control"].proc.pid
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: any("restarted expression_control" in ln for ln in lines), 30, spin), lines
        error = next(ln for ln in lines if "ERROR" in ln)
        assert "expression_control exited with code -9 (SIGKILL)" in error and "restarting in 0.5 s" in error
        restarted_at = time.monotonic()
        assert wait_for(lambda: inside[-1] > restarted_at + 1.0, 60, spin), lines      # publishing again
        second = runner._children["expression_control"].proc.pid
        assert second != first
        os.kill(second, signal.SIGKILL)
        waiter.join(30)
        assert not waiter.is_alive() and runner.failure, lines
        assert "expression_control exited with code -9" in runner.failure and "giving up" in runner.failure
    finally:
        runner.stop()
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)
    assert outside == []                                     # nothing leaked to the root namespace
    assert runner.restarts == {"expression_control": 1}


@pytest.mark.ros
def test_node_that_cannot_start_stops_the_graph(ros_domain, tmp_path):
    lines: list[str] = []
    specs = [NodeSpec("expression_control", "expression_control"),
             NodeSpec("audio_capture", "audio_capture", {"source": f"file:{tmp_path}/missing.wav"}, source=True)]
    runner = GraphRunner(specs, CONFIG, log=lines.append)
    with pytest.raises(StartupError) as err:
        runner.start()
    message = str(err.value)
    assert message.startswith("audio_capture could not start (exit code 1)") and "missing.wav" in message
    assert not any("graph up" in ln for ln in lines)
    assert all(c.proc.poll() is not None for c in runner._children.values())    # nothing left running


# -- the command line ---------------------------------------------------------------------------
def _launch(args: list[str], env: dict, timeout_s: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avatar.cli.main", "launch", *args], env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def _env(domain: int) -> dict:
    return dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                PYTHONUNBUFFERED="1")


@pytest.mark.ros
def test_bad_checkpoint_stops_launch_and_other_graph_is_warned(ros_domain, tmp_path):
    """Another graph's image publisher on /dup is warned about; a missing checkpoint then stops
    the graph: exit code 1, one error line naming frame_generator, no "graph up"."""
    import rclpy
    from rclpy.context import Context
    from sensor_msgs.msg import Image

    from avatar.nodes.toolkit import QOS
    config = yaml.safe_load(CONFIG.read_text())
    # The default path's model: the motion generator (the warp renderer has no checkpoint).
    config["frame_generator"]["ros__parameters"]["motion_checkpoint"] = str(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain)
    other = rclpy.create_node("other_avatar", namespace="/dup", context=context)
    other.create_publisher(Image, "avatar/image", QOS.image)
    try:
        done = _launch(["--config", str(bad), "--namespace", "dup", "--duration", "30"], _env(ros_domain))
    finally:
        other.destroy_node()
        rclpy.try_shutdown(context=context)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "graph up" not in out
    assert "1 publisher(s) already on /dup/avatar/image" in done.stdout
    final = [ln for ln in done.stderr.splitlines() if ln.startswith("avatar launch: error:")]
    # frame_generator is a lifecycle node: its configure fails (the node stays up, unconfigured)
    assert len(final) == 1 and "frame_generator could not start (not brought to active" in final[0], out[-3000:]
    assert "checkpoint" in final[0]


def test_existing_recording_is_refused_before_anything_starts(tmp_path):
    out = tmp_path / "take.mp4"
    out.write_bytes(b"earlier take")
    done = _launch(["--record", str(out), "--duration", "1"], _env(1), timeout_s=60)
    assert done.returncode == 1 and "started" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == \
        f"avatar launch: error: {out} exists; not replacing it (pass --overwrite, or overwrite:=true, to replace it)"
    assert out.read_bytes() == b"earlier take"


def test_mic_without_a_sound_device_fails(tmp_path):
    from avatar.core.audio_sources import check_input_device
    from avatar.core.errors import AvatarError
    try:
        check_input_device(None)
        pytest.skip("this machine has an input device")
    except AvatarError:
        pass
    done = _launch(["--mic", "--duration", "1"], _env(1), timeout_s=60)
    assert done.returncode == 1 and "started" not in done.stdout
    assert "microphone (default) unavailable" in done.stderr.strip().splitlines()[-1]


# -- the launch file (launch_ros cannot run here) -------------------------------------------------
def test_launch_file_respawns_and_namespaces():
    tree = ast.parse((REPO / "launch" / "avatar.launch.py").read_text())
    calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and any(k.arg == "respawn" for k in c.keywords)]
    assert calls, "no node action with respawn="
    for call in calls:
        kw = {k.arg: k.value for k in call.keywords}
        assert isinstance(kw["respawn"], ast.Constant) and kw["respawn"].value is True
        assert ast.unparse(kw["respawn_delay"]) == "RESPAWN_DELAY_S"
        assert ast.unparse(kw["respawn_max_retries"]) == "MAX_RESPAWNS"
        assert "namespace" in kw and ast.unparse(kw["remappings"]) == "namespace_remaps(namespace)"
    args = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    assert {"namespace", "overwrite"} <= {t.elts[0].value for t in args.value.elts}
    assert RESPAWN_DELAY_S > 0 and MAX_RESPAWNS > 0

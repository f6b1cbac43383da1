"""Structural checks of launch/avatar.launch.py, since `launch`/`launch_ros`
cannot be installed from PyPI and the file cannot be executed here.

What this proves: the file parses; it declares the launch arguments users rely
on; every executable the node plan can name (for every display/record/mic
combination) is a node module with a main(), a CMake-installed executable and a
console script; the config file it defaults to exists and is valid ROS
parameter YAML whose sections name planned nodes.
What it does NOT prove: that launch_ros accepts the file at run time, or that
`ros2 launch` resolves the package share directory. Those need a ROS install.
"""
import ast
import importlib
import itertools
import re
import tomllib
from pathlib import Path

import yaml

from avatar.core.graph import DISPLAY_MODES, GraphOptions, plan_graph

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch" / "avatar.launch.py"


def _all_specs():
    for display, record, mic in itertools.product(DISPLAY_MODES, ("", "o.mp4", "o.mcap"), (False, True)):
        yield from plan_graph(GraphOptions(config=REPO / "config" / "avatar.yaml", display=display,
                                           record=record, mic=mic, speech="s.wav"))


def test_launch_file_declares_expected_arguments():
    tree = ast.parse(LAUNCH.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert {"generate_launch_description", "DeclareLaunchArgument", "Node"} <= names | {
        f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    args = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    declared = {t.elts[0].value for t in args.value.elts}
    assert {"config", "image", "speech", "mic", "display", "record"} <= declared


def test_every_planned_executable_exists_everywhere():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    cmake_nodes = set(re.search(r"set\(AVATAR_NODES([^)]*)\)", (REPO / "CMakeLists.txt").read_text())
                      .group(1).split())
    for spec in {s.executable for s in _all_specs()}:
        assert (REPO / "nodes" / f"{spec}.py").is_file(), f"nodes/{spec}.py missing"
        module = importlib.import_module(f"avatar.nodes.{spec}")
        assert callable(getattr(module, "main", None)), f"avatar.nodes.{spec} has no main()"
        assert spec in cmake_nodes, f"{spec} not installed to lib/avatar by CMakeLists.txt"
        console = "avatar-" + spec.replace("_", "-")
        assert scripts.get(console) == f"avatar.nodes.{spec}:main", console


def test_config_is_ros_parameter_yaml_for_planned_nodes():
    doc = yaml.safe_load((REPO / "config" / "avatar.yaml").read_text())
    planned = {s.name for s in _all_specs()}
    assert set(doc) <= planned | {"/**"}, set(doc) - planned
    for name, section in doc.items():
        assert set(section) == {"ros__parameters"}, name


def _node_class(executable: str):
    module = importlib.import_module(f"avatar.nodes.{executable}")
    return next(c for c in vars(module).values()
                if isinstance(c, type) and c.__module__ == module.__name__ and getattr(c, "PARAMS", None))


def test_every_config_value_is_a_declared_parameter_that_validates():
    """A typo in the YAML would otherwise be silently ignored by rclpy."""
    doc = yaml.safe_load((REPO / "config" / "avatar.yaml").read_text())
    executables = {s.name: s.executable for s in _all_specs()}
    for node, section in doc.items():
        params = {p.name: p for p in _node_class(executables[node]).PARAMS}
        for key, value in section["ros__parameters"].items():
            assert key in params, f"{node}.{key} is not a declared parameter"
            assert type(value) is type(params[key].default), f"{node}.{key}: {type(value).__name__}"
            if key not in ("portrait", "checkpoint", "source", "path"):   # paths are checked at run time
                assert params[key].reject_reason(value) is None, f"{node}.{key}={value!r}"


def _calls(tree, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def test_managed_nodes_are_planned_as_lifecycle_nodes_with_autostart_off():
    """Both launchers bring exactly the lifecycle node classes up, and only through transitions:
    a lifecycle node missing from the plan would sit unconfigured under `avatar launch`."""
    from avatar.nodes.lifecycle import AvatarLifecycleNode
    seen = set()
    for spec in _all_specs():
        managed = issubclass(_node_class(spec.executable), AvatarLifecycleNode)
        assert spec.lifecycle == managed, spec.name
        if managed:
            assert spec.overrides.get("autostart") is False, spec.name
            seen.add(spec.name)
    assert "face_display" in seen


def test_launch_file_brings_lifecycle_nodes_up_with_public_launch_ros_events():
    tree = ast.parse(LAUNCH.read_text())
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {("launch_ros.actions", "LifecycleNode"), ("launch_ros.event_handlers", "OnStateTransition"),
            ("launch_ros.events.lifecycle", "ChangeState"), ("launch.actions", "EmitEvent"),
            ("launch.actions", "RegisterEventHandler"), ("launch.event_handlers", "OnProcessStart"),
            ("launch.events", "matches_action"), ("lifecycle_msgs.msg", "Transition")} <= imported
    # Jazzy's LifecycleNode requires name= and namespace=; the node list is the shared plan.
    constructed = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                   and c.func.id == "kind"]
    assert constructed and {"name", "namespace", "parameters", "package", "executable"} <= {
        k.arg for k in constructed[0].keywords}
    assert _calls(tree, "plan_graph") and _calls(tree, "node_parameters")
    # activate only after configure (not after an outside deactivate, which also ends in inactive)
    (handler,) = _calls(tree, "OnStateTransition")
    states = {k.arg: k.value.value for k in handler.keywords if isinstance(k.value, ast.Constant)}
    assert states == {"start_state": "configuring", "goal_state": "inactive"}
    transitions = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("TRANSITION_")}
    assert transitions == {"TRANSITION_CONFIGURE", "TRANSITION_ACTIVATE"}

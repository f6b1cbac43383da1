"""Guards for "one definition each": the copies that cannot import Python (msg, CMake,
pyproject, YAML) must agree with the code, and no module restates the time base."""
import ast
import re
import tomllib
from pathlib import Path

import yaml

from avatar.core import timebase
from avatar.core.graph import DEFAULT_DISPLAY, NODES, GraphOptions, plan_graph
from avatar.core.state_machine import State
from avatar.model_runtime.engine.planner import LIVE_CLIP, PlannerConfig
from avatar.model_runtime.engine.render import RenderJob
from avatar.msg import AvatarState
from avatar.nodes.param_docs import node_class

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("core", "nodes", "cli", "model_runtime", "launch", "scripts", "docs")   # tests may pin values
TIMEBASE_NAMES = {"SAMPLE_RATE", "FPS", "SAMPLES_PER_FRAME", "FRAME_S"}


def _module_assignments(path: Path) -> set[str]:
    """Names a module binds at top level with ``NAME = value`` (imports do not count)."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_time_base_is_defined_once():
    assert (timebase.SAMPLE_RATE, timebase.FPS, timebase.SAMPLES_PER_FRAME) == (16000, 25, 640)
    assert timebase.FRAME_S == 0.04
    copies = [f"{p.relative_to(ROOT)}: {sorted(_module_assignments(p) & TIMEBASE_NAMES)}"
              for d in SOURCES for p in sorted((ROOT / d).rglob("*.py"))
              if p != ROOT / "core" / "timebase.py" and _module_assignments(p) & TIMEBASE_NAMES]
    assert not copies, "import these from avatar.core.timebase instead:\n" + "\n".join(copies)


def test_avatar_state_msg_constants_equal_the_state_enum():
    text = (ROOT / "msg" / "AvatarState.msg").read_text()
    declared = dict(re.findall(r"^uint8 ([A-Z_]+)=(\d+)$", text, re.MULTILINE))
    assert {k: int(v) for k, v in declared.items()} == {s.name: int(s) for s in State}
    assert {s.name: getattr(AvatarState, s.name) for s in State} == {s.name: int(s) for s in State}


def test_cmake_and_pyproject_register_the_nodes_of_core_graph():
    cmake = re.search(r"set\(AVATAR_NODES([^)]*)\)", (ROOT / "CMakeLists.txt").read_text()).group(1).split()
    assert tuple(cmake) == NODES
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    nodes = {k: v for k, v in scripts.items() if v.startswith("avatar.nodes.")}
    assert nodes == {f"avatar-{n.replace('_', '-')}": f"avatar.nodes.{n}:main" for n in NODES}
    full = plan_graph(GraphOptions(config=ROOT / "config" / "avatar.yaml", display="web", record="x.mp4"))
    assert tuple(s.executable for s in full) == NODES        # the launchers start every node, in order


# (node, parameter) -> why config/avatar.yaml may differ from the node's declared default.
# The YAML restates every default exactly, so a default is changed in one place (the node's
# PARAMS) and this test names any copy that was left behind; these differ on purpose.
YAML_DIFFERS_ON_PURPOSE: dict[tuple[str, str], str] = {
    # Standalone, face_display shows what any image publisher sends on /avatar/image; in the
    # graph, frame_generator also publishes JPEGs, and showing those costs 4 % of a core, not 11 %.
    ("face_display", "image_transport"): "the graph shows the compressed stream",
}


def test_yaml_parameters_equal_the_nodes_declared_defaults():
    config = yaml.safe_load((ROOT / "config" / "avatar.yaml").read_text())
    assert set(config) <= set(NODES)
    wrong = []
    for node in NODES:
        declared = {p.name: p.default for p in node_class(node).PARAMS}
        for name, value in config.get(node, {}).get("ros__parameters", {}).items():
            if name not in declared:
                wrong.append(f"{node}.{name}: not a parameter of the node")
            elif (value, type(value)) != (declared[name], type(declared[name])) \
                    and (node, name) not in YAML_DIFFERS_ON_PURPOSE:
                wrong.append(f"{node}.{name}: YAML {value!r}, node {declared[name]!r}")
    assert not wrong, "\n".join(wrong)


def test_display_and_clip_defaults():
    """One display default for the node, both launchers and the YAML; the live clip (latency)
    and the offline clip (throughput) are two named parameters."""
    assert {p.name: p.default for p in node_class("face_display").PARAMS}["mode"] == DEFAULT_DISPLAY
    assert GraphOptions(config=ROOT).display == DEFAULT_DISPLAY
    assert {p.name: p.default for p in node_class("frame_generator").PARAMS}["clip"] == LIVE_CLIP
    assert RenderJob(image=None, speech=None).clip == PlannerConfig.clip > LIVE_CLIP


def _ros_imports(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules.append(node.module or "")
    return [m for m in modules if m.split(".")[0] in ("rclpy", "rosbags", "launch", "launch_ros")
            or m.split(".")[0].endswith("_msgs") or m.split(".")[:2] in (["avatar", "msg"], ["avatar", "nodes"])]


def test_core_imports_no_ros():
    """core/ is the ROS-free logic; ROS glue (launching, bags, messages) lives in nodes/."""
    assert _ros_imports(ROOT / "nodes" / "bag.py") == ["rosbags.rosbag2", "rosbags.typesys"]   # the check sees them
    found = {p.name: _ros_imports(p) for p in sorted((ROOT / "core").rglob("*.py")) if _ros_imports(p)}
    assert not found, found

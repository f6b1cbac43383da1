"""Which nodes make up the avatar graph, with which parameters, under which namespace, and
how they are supervised.

Shared by ``launch/avatar.launch.py`` (real ROS installs) and ``avatar launch``
(pip installs), so that both start the same nodes from the same YAML with the
same restart policy.
"""
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from avatar.core.errors import InputError

# Every node of the package (module avatar.nodes.<name>), in start order: the one registry.
# CMakeLists.txt (AVATAR_NODES) and pyproject.toml ([project.scripts] avatar-<name>) restate
# it because they cannot import Python; test/test_single_source.py checks that they agree.
NODES = ("audio_capture", "speech_source", "vad_state", "expression_control", "frame_generator", "face_display",
         "recorder")

DISPLAY_MODES = ("window", "web", "none")
# The one default of face_display's `mode`, `avatar launch --display` and the launch file's
# `display:=`: the browser view on 127.0.0.1 works headless and on a desktop alike.
DEFAULT_DISPLAY = "web"

# Restart policy of both launchers (launch_ros: respawn_delay, respawn_max_retries). `avatar
# launch` doubles the delay after each restart, up to RESPAWN_MAX_DELAY_S.
RESPAWN_DELAY_S = 2.0
MAX_RESPAWNS = 5
RESPAWN_MAX_DELAY_S = 30.0

# Every topic the nodes use, by its absolute name. The nodes name them absolutely, which a
# namespace does not move, so a namespaced graph remaps each one (/avatar/x -> /NAME/avatar/x).
# /diagnostics stays global: aggregators read it, and hardware_id names the node's namespace.
GRAPH_TOPICS = ("/avatar/image", "/avatar/image/compressed", "/avatar/face_motion", "/avatar/speech/audio",
                "/avatar/user/audio", "/avatar/state", "/avatar/expression", "/avatar/expression/set",
                "/robot_face/expression", "/robot_face/look_at")
IMAGE_TOPIC = "/avatar/image"

# Managed (lifecycle) nodes. Both launchers start them with autostart false and bring them to
# active through lifecycle_msgs (configure, then activate), as a lifecycle manager would.
LIFECYCLE_NODES = ("frame_generator", "face_display")

_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class GraphOptions:
    config: Path
    speech: str = ""          # file or directory played as the avatar's voice ("" = config default)
    mic: bool = False         # user audio from the microphone
    user_audio: str = ""      # user audio from a file instead of the microphone
    display: str = DEFAULT_DISPLAY   # window | web | none
    record: str = ""          # output .mp4 or .mcap ("" = no recorder)
    portrait: str = ""        # reference image ("" = config default / bundled portrait)
    renderer: str = ""        # frame_generator's renderer ("" = config default)
    overwrite: bool = False   # the recorder may replace an existing file
    namespace: str = ""       # run the graph under /NAME ("" = the root namespace)


@dataclass(frozen=True)
class NodeSpec:
    executable: str           # lib/avatar/<executable>, module avatar.nodes.<executable>
    name: str
    overrides: dict = field(default_factory=dict)
    source: bool = False      # produces audio: started once every other node is up
    lifecycle: bool = False   # a managed node: the launcher drives configure and activate


def _user_audio_source(opts: GraphOptions) -> str:
    if opts.user_audio:
        return f"file:{opts.user_audio}"
    return "mic" if opts.mic else "silence"


def plan_graph(opts: GraphOptions) -> list[NodeSpec]:
    """The nodes to start for ``opts``; values from arguments override the YAML."""
    if opts.display not in DISPLAY_MODES:
        raise ValueError(f"display must be one of {DISPLAY_MODES}, not {opts.display!r}")
    speech = {"source": opts.speech} if opts.speech else {}
    generator = {k: v for k, v in (("portrait", opts.portrait), ("renderer", opts.renderer)) if v}
    nodes = [
        NodeSpec("audio_capture", "audio_capture", {"source": _user_audio_source(opts)}, source=True),
        NodeSpec("speech_source", "speech_source", speech, source=True),
        NodeSpec("vad_state", "vad_state"),
        NodeSpec("expression_control", "expression_control"),
        NodeSpec("frame_generator", "frame_generator", generator),
    ]
    if opts.display != "none":
        nodes.append(NodeSpec("face_display", "face_display", {"mode": opts.display}))
    if opts.record:
        fmt = "mcap" if opts.record.endswith(".mcap") else "mp4"
        recorder = {"path": opts.record, "format": fmt} | ({"overwrite": True} if opts.overwrite else {})
        nodes.append(NodeSpec("recorder", "recorder", recorder))
    return [replace(s, lifecycle=True, overrides=dict(s.overrides) | {"autostart": False})
            if s.executable in LIFECYCLE_NODES else s for s in nodes]


def restart_overrides(spec: NodeSpec, params: dict, restarts: int) -> dict:
    """Parameters that change when a node is restarted for the ``restarts``-th time.

    A recorder that died left a playable (fragmented) file behind, which it must neither
    replace nor be stopped by: the new process records into ``out.restart<N>.mp4`` beside it."""
    if spec.executable != "recorder" or not params.get("path"):
        return {}
    path = Path(str(params["path"]))
    suffix = path.suffix if path.suffix.lower() in (".mp4", ".mcap") else ""
    stem = path.name[:len(path.name) - len(suffix)] if suffix else path.name
    return {"path": str(path.with_name(f"{stem}.restart{restarts}{suffix}"))}


def check_namespace(namespace: str) -> str:
    """``NAME`` or ``/NAME`` (segments of letters, digits, _) -> ``NAME``; "" stays ""."""
    name = namespace.strip().strip("/")
    if name and not _NAMESPACE.fullmatch(name):
        raise InputError(f"namespace {namespace!r}: use letters, digits and _ (not first), segments split by /")
    return name


def namespaced(topic: str, namespace: str) -> str:
    """Where an absolute topic lives in a graph under ``namespace``."""
    name = check_namespace(namespace)
    return f"/{name}{topic}" if name else topic


def namespace_remaps(namespace: str) -> list[tuple[str, str]]:
    """(from, to) remappings that move every graph topic under /``namespace``; none for ""."""
    if not check_namespace(namespace):
        return []
    return [(topic, namespaced(topic, namespace)) for topic in GRAPH_TOPICS]


def load_config(config: Path) -> dict:
    """The parameter YAML as {node name: {param: value}} (plus "/**" if present)."""
    try:
        doc = yaml.safe_load(Path(config).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"cannot read parameter file {config}: {err}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) and "ros__parameters" in v for v in doc.values()):
        raise InputError(f"{config} is not ROS 2 parameter YAML (node: ros__parameters: ...)")
    return {name: dict(section["ros__parameters"] or {}) for name, section in doc.items()}


def node_parameters(config: Path, spec: NodeSpec) -> dict:
    """One node's parameters: the YAML's "/**" section, its own section, then the overrides.

    Given to the node as a dict (applied as "/**"), because a plain ``vad_state:`` key in a
    parameter file does not match a node that runs under a namespace (/NAME/vad_state)."""
    doc = load_config(config)
    return doc.get("/**", {}) | doc.get(spec.name, {}) | dict(spec.overrides)

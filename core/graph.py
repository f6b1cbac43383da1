"""Which nodes make up the avatar graph, and with which overrides.

Shared by ``launch/avatar.launch.py`` (real ROS installs) and ``avatar launch``
(pip installs), so that both start the same nodes from the same YAML.
"""
from dataclasses import dataclass, field
from pathlib import Path

DISPLAY_MODES = ("window", "web", "none")


@dataclass(frozen=True)
class GraphOptions:
    config: Path
    speech: str = ""          # file or directory played as the avatar's voice ("" = config default)
    mic: bool = False         # user audio from the microphone
    user_audio: str = ""      # user audio from a file instead of the microphone
    display: str = "none"     # window | web | none
    record: str = ""          # output .mp4 or .mcap ("" = no recorder)
    portrait: str = ""        # reference image ("" = config default / bundled portrait)


@dataclass(frozen=True)
class NodeSpec:
    executable: str           # lib/avatar/<executable>, module avatar.nodes.<executable>
    name: str
    overrides: dict = field(default_factory=dict)
    source: bool = False      # produces audio: started once every other node is up


def _user_audio_source(opts: GraphOptions) -> str:
    if opts.user_audio:
        return f"file:{opts.user_audio}"
    return "mic" if opts.mic else "silence"


def plan_graph(opts: GraphOptions) -> list[NodeSpec]:
    """The nodes to start for ``opts``; values from arguments override the YAML."""
    if opts.display not in DISPLAY_MODES:
        raise ValueError(f"display must be one of {DISPLAY_MODES}, not {opts.display!r}")
    speech = {"source": opts.speech} if opts.speech else {}
    generator = {"portrait": opts.portrait} if opts.portrait else {}
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
        nodes.append(NodeSpec("recorder", "recorder", {"path": opts.record, "format": fmt}))
    return nodes

"""Start the avatar node graph: `ros2 launch avatar avatar.launch.py [arg:=value ...]`.

The node list comes from avatar.core.graph, the same plan that `avatar launch`
uses, so both launchers start the same nodes from the same YAML.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from avatar.core.graph import DISPLAY_MODES, GraphOptions, plan_graph

ARGUMENTS = (
    ("config", "", "parameter YAML (default: share/avatar/config/avatar.yaml)"),
    ("image", "", "reference portrait image (default: bundled portrait)"),
    ("speech", "", "avatar voice: an audio file or a directory queue"),
    ("mic", "false", "true: user audio from the microphone"),
    ("user_audio", "", "user audio from a file instead of the microphone"),
    ("display", "web", "display mode: " + "|".join(DISPLAY_MODES)),
    ("record", "", "record to OUT.mp4 or OUT.mcap (empty: no recorder)"),
)


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    config = arg("config") or str(Path(get_package_share_directory("avatar")) / "config" / "avatar.yaml")
    opts = GraphOptions(config=Path(config), speech=arg("speech"), mic=arg("mic").lower() == "true",
                        user_audio=arg("user_audio"), display=arg("display"), record=arg("record"),
                        portrait=arg("image"))
    return [
        Node(package="avatar", executable=spec.executable, name=spec.name, output="screen",
             parameters=[config, spec.overrides] if spec.overrides else [config])
        for spec in plan_graph(opts)
    ]


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, default, doc in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])

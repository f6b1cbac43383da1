"""Start the avatar node graph: `ros2 launch avatar avatar.launch.py [arg:=value ...]`.

The node list comes from avatar.core.graph, the same plan that `avatar launch`
uses, so both launchers start the same nodes from the same YAML, with the same
restart policy (respawn, respawn_delay, respawn_max_retries) and the same
namespace handling (namespace:=NAME puts every node and topic under /NAME).
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from avatar.core.graph import (DISPLAY_MODES, MAX_RESPAWNS, RESPAWN_DELAY_S, GraphOptions, check_namespace,
                               namespace_remaps, node_parameters, plan_graph)

ARGUMENTS = (
    ("config", "", "parameter YAML (default: share/avatar/config/avatar.yaml)"),
    ("image", "", "reference portrait image (default: bundled portrait)"),
    ("speech", "", "avatar voice: an audio file or a directory queue"),
    ("mic", "false", "true: user audio from the microphone"),
    ("user_audio", "", "user audio from a file instead of the microphone"),
    ("display", "web", "display mode: " + "|".join(DISPLAY_MODES)),
    ("record", "", "record to OUT.mp4 or OUT.mcap (empty: no recorder)"),
    ("overwrite", "false", "true: the recording may replace an existing file"),
    ("namespace", "", "run the whole graph under /NAME (several avatars side by side)"),
)


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    config = arg("config") or str(Path(get_package_share_directory("avatar")) / "config" / "avatar.yaml")
    namespace = check_namespace(arg("namespace"))
    opts = GraphOptions(config=Path(config), speech=arg("speech"), mic=arg("mic").lower() == "true",
                        user_audio=arg("user_audio"), display=arg("display"), record=arg("record"),
                        portrait=arg("image"), overwrite=arg("overwrite").lower() == "true", namespace=namespace)
    # Parameters as a dict per node (launch_ros applies it as "/**"): a plain `vad_state:` key
    # in the YAML would not match a node under a namespace. A node that dies is restarted.
    return [
        Node(package="avatar", executable=spec.executable, name=spec.name, output="screen",
             namespace=f"/{namespace}" if namespace else None,
             parameters=[node_parameters(Path(config), spec)], remappings=namespace_remaps(namespace),
             respawn=True, respawn_delay=RESPAWN_DELAY_S, respawn_max_retries=MAX_RESPAWNS)
        for spec in plan_graph(opts)
    ]


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, default, doc in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])

"""Start the avatar node graph: `ros2 launch avatar avatar.launch.py [arg:=value ...]`.

The node list comes from avatar.core.graph, the same plan that `avatar launch`
uses, so both launchers start the same nodes from the same YAML, with the same
restart policy (respawn, respawn_delay, respawn_max_retries) and the same
namespace handling (namespace:=NAME puts every node and topic under /NAME).

Managed nodes (avatar.core.graph.LIFECYCLE_NODES) are launch_ros LifecycleNodes started with
autostart false: each time the process starts (respawns included) a ChangeState event
configures it, and when it reaches inactive from configuring another one activates it. A
later deactivate by an outside lifecycle manager is left alone.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessStart
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from avatar.core.graph import (DEFAULT_DISPLAY, DISPLAY_MODES, MAX_RESPAWNS, RESPAWN_DELAY_S, GraphOptions,
                               check_namespace, namespace_remaps, node_parameters, plan_graph)

ARGUMENTS = (
    ("config", "", "parameter YAML (default: share/avatar/config/avatar.yaml)"),
    ("image", "", "portrait: any photo or drawing with a face (default: bundled portrait)"),
    ("renderer", "", "what draws the face: warp|diffusion (default: from the config)"),
    ("speech", "", "avatar voice: an audio file or a directory queue"),
    ("mic", "false", "true: user audio from the microphone"),
    ("user_audio", "", "user audio from a file instead of the microphone"),
    ("display", DEFAULT_DISPLAY, "display mode: " + "|".join(DISPLAY_MODES)),
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
                        portrait=arg("image"), renderer=arg("renderer"), overwrite=arg("overwrite").lower() == "true", namespace=namespace)
    # Parameters as a dict per node (launch_ros applies it as "/**"): a plain `vad_state:` key
    # in the YAML would not match a node under a namespace. A node that dies is restarted.
    actions = []
    for spec in plan_graph(opts):
        kind = LifecycleNode if spec.lifecycle else Node
        node = kind(package="avatar", executable=spec.executable, name=spec.name, output="screen",
                    namespace=f"/{namespace}" if namespace else "",
                    parameters=[node_parameters(Path(config), spec)], remappings=namespace_remaps(namespace),
                    respawn=True, respawn_delay=RESPAWN_DELAY_S, respawn_max_retries=MAX_RESPAWNS)
        actions += [node] + (_bring_up(node) if spec.lifecycle else [])
    return actions


def _transition(node, transition_id):
    return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id))


def _bring_up(node):
    """configure at every process start (respawns too), activate once configured."""
    return [
        RegisterEventHandler(OnProcessStart(target_action=node,
                                            on_start=[_transition(node, Transition.TRANSITION_CONFIGURE)])),
        RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, start_state="configuring",
                                               goal_state="inactive",
                                               entities=[_transition(node, Transition.TRANSITION_ACTIVATE)])),
    ]


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, default, doc in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])

"""The lifecycle manager of ``avatar launch``: brings managed nodes to active through their
``lifecycle_msgs`` services (``<node>/get_state``, ``<node>/change_state``: configure, then
activate), as nav2's lifecycle manager or launch_ros' ChangeState events do.

One rclpy node in the launcher process; calls are serialised, so the launcher may bring up a
respawned node from its supervision thread while another call is in flight.
"""
import threading
import time

import rclpy
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from avatar.core.errors import AvatarError

# configure loads the model (seconds to a minute on a loaded 2-core machine)
TRANSITION_TIMEOUT_S = 180.0


class LifecycleManager:
    def __init__(self):
        self._context = Context()
        rclpy.init(context=self._context, args=[])
        self._node = rclpy.create_node("avatar_lifecycle_manager", context=self._context,
                                       start_parameter_services=False)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._lock = threading.Lock()

    def _call(self, client, request, timeout_s: float):
        future = client.call_async(request)
        self._executor.spin_until_future_complete(future, timeout_sec=timeout_s)
        if not future.done():
            client.remove_pending_request(future)
            raise AvatarError(f"{client.srv_name}: no answer within {timeout_s:.0f} s")
        return future.result()

    def bring_up(self, node: str, timeout_s: float = TRANSITION_TIMEOUT_S) -> None:
        """Configure (if unconfigured) and activate ``node`` (its full name, e.g. /face_display).
        AvatarError with the reason when a service does not appear or a transition fails."""
        with self._lock:
            get = self._node.create_client(GetState, f"{node}/get_state")
            change = self._node.create_client(ChangeState, f"{node}/change_state")
            try:
                deadline = time.monotonic() + timeout_s
                if not (get.wait_for_service(timeout_sec=timeout_s) and
                        change.wait_for_service(timeout_sec=max(1.0, deadline - time.monotonic()))):
                    raise AvatarError(f"{node}: no lifecycle services after {timeout_s:.0f} s")
                state = self._call(get, GetState.Request(), 10.0).current_state.id
                steps = {State.PRIMARY_STATE_UNCONFIGURED: (Transition.TRANSITION_CONFIGURE,
                                                            Transition.TRANSITION_ACTIVATE),
                         State.PRIMARY_STATE_INACTIVE: (Transition.TRANSITION_ACTIVATE,),
                         State.PRIMARY_STATE_ACTIVE: ()}
                if state not in steps:
                    raise AvatarError(f"{node}: cannot be brought up from lifecycle state {state}")
                for transition in steps[state]:
                    request = ChangeState.Request(transition=Transition(id=transition))
                    if not self._call(change, request, timeout_s).success:
                        label = "configure" if transition == Transition.TRANSITION_CONFIGURE else "activate"
                        raise AvatarError(f"{node}: {label} failed (see its log)")
            finally:
                self._node.destroy_client(get)
                self._node.destroy_client(change)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
        rclpy.try_shutdown(context=self._context)

"""Helpers for tests that talk to real rclpy nodes."""
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor


def spin_until(executor: SingleThreadedExecutor, predicate, timeout_s: float) -> bool:
    """Spin until ``predicate()`` holds or the timeout passes; returns the predicate."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return bool(predicate())


def node_matched(log, topics) -> bool:
    """Whether a node's log shows its subscription on every topic matched a publisher
    (AvatarNode.subscribe logs it). A reliable reader drops what a writer sends before the
    reader has matched it, and each side of a match is discovered separately."""
    text = log.read_text() if log.exists() else ""
    return all(f"{topic}: 1 publisher(s) matched" in text for topic in topics)


def make_executor(context, *nodes) -> SingleThreadedExecutor:
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    return executor


class LifecycleClient:
    """What any ROS 2 lifecycle manager does, in plain rclpy: one node's lifecycle_msgs services."""

    def __init__(self, node, executor, name: str, wait_s: float = 60.0):
        from lifecycle_msgs.srv import ChangeState, GetState
        self._executor = executor
        self._change = node.create_client(ChangeState, f"/{name}/change_state")
        self._get = node.create_client(GetState, f"/{name}/get_state")
        assert self._change.wait_for_service(timeout_sec=wait_s) and self._get.wait_for_service(timeout_sec=wait_s)

    def _call(self, client, request, timeout_s: float):
        future = client.call_async(request)
        assert spin_until(self._executor, future.done, timeout_s), f"no answer from {client.srv_name}"
        return future.result()

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState
        return self._call(self._get, GetState.Request(), 10).current_state.label

    def change(self, transition_id: int, timeout_s: float = 120) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self._call(self._change, request, timeout_s).success


__all__ = ["rclpy", "spin_until", "make_executor", "node_matched", "LifecycleClient"]

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


__all__ = ["rclpy", "spin_until", "make_executor", "node_matched"]

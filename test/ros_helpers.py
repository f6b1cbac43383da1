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


def make_executor(context, *nodes) -> SingleThreadedExecutor:
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    return executor


__all__ = ["rclpy", "spin_until", "make_executor"]

"""Shared test setup: isolate DDS traffic of this test run on the loopback interface."""
import os
import random

import pytest

# Set at import time so that every child process started by a test inherits it.
# A random domain keeps parallel test runs (and other sessions) from crossing.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated in Jazzy; the range above replaces it


@pytest.fixture
def rclpy_context():
    """An initialised rclpy context of its own, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)

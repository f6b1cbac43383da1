"""Shared by the test_reliability_* files: waiting on a condition, never on a guessed sleep."""
import time


def wait_for(predicate, timeout_s: float, spin=None) -> bool:
    """Until ``predicate()`` holds or ``timeout_s`` passes (calling ``spin()`` meanwhile, e.g. an
    executor's spin_once, else polling every 50 ms); returns the predicate."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if spin is not None:
            spin()
        else:
            time.sleep(0.05)
    return bool(predicate())

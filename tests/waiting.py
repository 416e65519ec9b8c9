"""Waiting for runs in tests: poll a condition, read a run's state."""
import time
from pathlib import Path

from tlcore import runs


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1):
    """Poll predicate until it returns something truthy (returned), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def run_state(run_dir: Path) -> str | None:
    return runs.read_status(run_dir).get("state")

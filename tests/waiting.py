"""Waiting for runs in tests: poll a condition, read a run's state."""
import time
from pathlib import Path

from tlcore.runs import RunFolder


def wait_for(condition, timeout: float = 60.0, every: float = 0.1, message: str = "condition"):
    """Poll condition() until it returns something truthy; return that, or raise AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(every)


def run_state(run_dir: Path) -> str | None:
    return RunFolder(run_dir).read_status().get("state")

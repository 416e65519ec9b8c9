"""How long a run's stages took, and progress callbacks that do not flood the status file."""
import time
from contextlib import contextmanager


def throttled(report, interval_s: float = 0.25):
    """A progress callback that passes on at most a few calls a second, and always the last one."""
    last = [0.0]

    def call(done, total):
        now = time.monotonic()
        if done >= total or now - last[0] >= interval_s:
            last[0] = now
            report(done, total)
    return call


@contextmanager
def timed(timings: dict, name: str):
    """Add the seconds spent in the block to timings[name], for the run's final report."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 3)

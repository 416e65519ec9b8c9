"""How many cores this process may really use; no torch here, so data ingest stays light."""
import os
from pathlib import Path


def usable_cpu_count() -> int:
    """Cores this process may actually use: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity API
        count = os.cpu_count() or 1
    # Containers often limit CPU by quota rather than affinity; os.cpu_count() overstates both.
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_quota() -> int | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, int(int(quota) / int(period)))

"""The runner's watchdog over a live worker: how long each stage may go without its work moving.

A heartbeat only proves the process lives: a read blocked on a named pipe, or a deadlock, leaves it
beating. The worker also records when its work last moved (a file checked, a batch, a feature
chunk), and a run whose work stands still past its stage's limit is stopped as stalled.
"""
import os
import time

from tlcore.limits import positive_setting

# The limits are generous for their stage: one image is decoded in well under a second, one batch
# of the largest network on a laptop CPU takes about a minute, and fetching weights over a slow
# connection can take many minutes.
STALL_LIMITS_S = {"scanning": 300.0, "checking the target pictures": 300.0, "loading backbone": 3600.0, "embedding": 600.0, "training": 900.0}
DEFAULT_STALL_LIMIT_S = 900.0
STALL_LIMIT_ENV = "TLSTUDIO_STALL_LIMIT_S"  # one limit for every stage (tests, slow machines)
STAGE_WORDS = {"scanning": "checking the pictures", "loading backbone": "loading the network",
               "embedding": "computing features", "training": "training"}


def stall_limit_s(stage: str | None) -> float:
    """How long the stage may go without progress before its run counts as stalled."""
    default = STALL_LIMITS_S.get(stage, DEFAULT_STALL_LIMIT_S)
    return positive_setting(STALL_LIMIT_ENV, default) if os.environ.get(STALL_LIMIT_ENV) else default


def stalled_stage(status: dict, now: float | None = None) -> tuple[str, float] | None:
    """(stage, seconds without progress) when a running run's work stopped moving, else None."""
    stage = (status.get("stage") or {}).get("name")
    stage = stage if isinstance(stage, str) else None
    moved = status.get("progress_at") or status.get("started_at") or 0
    still = (now or time.time()) - moved
    return (stage or "starting", still) if still > stall_limit_s(stage) else None


def stall_message(stage: str, still_s: float) -> str:
    """Why a stalled run was stopped, in words."""
    words = STAGE_WORDS.get(stage, stage)
    return (f"The run stopped making progress while {words}: nothing moved for {_minutes(still_s)} (the limit "
            f"for this stage is {_minutes(stall_limit_s(stage))}), so it was stopped. A file that cannot be "
            "read to its end, or a network that stopped answering, can cause this.")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"

"""The runner's rules about a live run's worker, as small functions of what it can see.

What the runner sees of a worker: its run's status (a heartbeat written every two seconds, when its
work last moved, when it started), whether its process lives, whether that process is provably the
run's own worker (tlcore.runs.supervision.processes.is_worker_of), and how long it has been silent.
From these the rules decide; the runner only acts on the decision (kill, reap, end the run).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from tlcore.runs.supervision.watchdog import stall_message, stalled_stage

HEARTBEAT_STALE_S = 30.0  # a worker silent this long is presumed dead or hung even if its PID lives
WORKER_SETTLE_S = 10.0  # long enough for a new worker to exec and show its own command line
CANCEL_GRACE_S = 10.0  # after a cancel request, wait this long for the worker before signalling it

# What becomes of a running run's worker.
TRAINING = "training"  # it lives and beats, or is not ours to judge: the run holds its device
SILENT = "silent"  # ours, alive, not beating for a while: perhaps the machine just woke up; watched
HUNG = "hung"  # ours, alive, silent past the limit twice over: stopped, the run fails
STALLED = "stalled"  # ours, beating, but its work has not moved past its stage's limit: stopped
GONE = "gone"  # its process ended: the run ends with the reason, unless it wrote its own end


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reason: str | None = None  # why the run ends, in words, when it does

    @property
    def holds_device(self) -> bool:
        return self.outcome in (TRAINING, SILENT)


def settled(status: dict, now: float | None = None) -> bool:
    """Whether the worker has had time to exec: before that its command line is still its parent's."""
    return (now or time.time()) - (status.get("started_at") or 0) > WORKER_SETTLE_S


def beating(status: dict, now: float | None = None) -> bool:
    """Whether the worker's heartbeat is fresh."""
    heartbeat = status.get("heartbeat_at") or status.get("started_at") or 0
    return (now or time.time()) - heartbeat < HEARTBEAT_STALE_S


def judge_worker(status: dict, *, exited: bool, alive: bool, ours: bool, silent_for: float,
                 now: float | None = None) -> Verdict:
    """What becomes of a running run's worker.

    Args:
        exited: the runner's own child process of this run has exited.
        alive: the pid in the status is a live tlcore process.
        ours: that pid is provably the run's worker (only then may the runner stop it).
        silent_for: seconds since the runner first saw its heartbeat stale (0 when it is fresh).
    """
    if exited or not alive:
        return Verdict(GONE)
    if beating(status, now):
        stall = stalled_stage(status, now)
        if stall is not None and ours:
            return Verdict(STALLED, stall_message(*stall))
        return Verdict(TRAINING)
    if not ours:
        return Verdict(TRAINING)  # not a worker of ours (a CLI run in a terminal, paused perhaps)
    if silent_for < HEARTBEAT_STALE_S:
        return Verdict(SILENT)
    return Verdict(HUNG, f"The training process stopped responding (no sign of life for over "
                         f"{2 * HEARTBEAT_STALE_S:.0f} s), so it was stopped.")


def cancel_step(waited_s: float, terminated: bool) -> str | None:
    """What to do about a cancel the worker has not honoured after waited_s: "terminate" (SIGTERM, once)
    after a grace period, "kill" (SIGKILL) after three, else nothing yet."""
    if waited_s > 3 * CANCEL_GRACE_S:
        return "kill"
    if waited_s > CANCEL_GRACE_S and not terminated:
        return "terminate"
    return None

"""The runner's rules about a live worker, as plain functions of what it sees: no process is started here."""
import pytest

from tlcore.runs.supervision.liveness import (CANCEL_GRACE_S, GONE, HEARTBEAT_STALE_S, HUNG, SILENT, STALLED,
                                              TRAINING, WORKER_SETTLE_S, beating, cancel_step, judge_worker, settled)
from tlcore.runs.supervision.watchdog import STALL_LIMITS_S

NOW = 1_000_000.0


def status(*, started_ago=60.0, beat_ago=1.0, moved_ago=1.0, stage="training"):
    return {"state": "running", "started_at": NOW - started_ago, "heartbeat_at": NOW - beat_ago,
            "progress_at": NOW - moved_ago, "stage": {"name": stage}}


def judge(run_status, *, exited=False, alive=True, ours=True, silent_for=0.0):
    return judge_worker(run_status, exited=exited, alive=alive, ours=ours, silent_for=silent_for, now=NOW)


def test_a_beating_worker_whose_work_moves_is_training_and_holds_its_device():
    verdict = judge(status())
    assert verdict.outcome == TRAINING and verdict.holds_device and verdict.reason is None


@pytest.mark.parametrize("exited, alive", [(True, True), (False, False), (True, False)])
def test_a_worker_whose_process_ended_is_gone_and_frees_its_device(exited, alive):
    verdict = judge(status(), exited=exited, alive=alive)
    assert verdict.outcome == GONE and not verdict.holds_device


def test_a_silent_worker_of_ours_is_watched_first_then_stopped_as_hung():
    quiet = status(beat_ago=HEARTBEAT_STALE_S + 1)
    assert judge(quiet, silent_for=0.0).outcome == SILENT
    assert judge(quiet, silent_for=0.0).holds_device  # it may just have woken from sleep
    hung = judge(quiet, silent_for=HEARTBEAT_STALE_S + 1)
    assert hung.outcome == HUNG and not hung.holds_device
    assert "stopped responding" in hung.reason and f"{2 * HEARTBEAT_STALE_S:.0f} s" in hung.reason


def test_a_silent_worker_that_is_not_ours_is_never_judged():
    """A run trained in a terminal (the CLI) may be paused by its owner: the runner must not end it."""
    quiet = status(beat_ago=10 * HEARTBEAT_STALE_S, moved_ago=10 * STALL_LIMITS_S["training"])
    assert judge(quiet, ours=False, silent_for=10 * HEARTBEAT_STALE_S).outcome == TRAINING


def test_a_beating_worker_whose_work_stood_still_past_its_stage_limit_is_stalled():
    limit = STALL_LIMITS_S["embedding"]
    assert judge(status(stage="embedding", moved_ago=limit - 5)).outcome == TRAINING
    stalled = judge(status(stage="embedding", moved_ago=limit + 5))
    assert stalled.outcome == STALLED and not stalled.holds_device
    assert "computing features" in stalled.reason and "10 min" in stalled.reason
    # the same stillness is not ours to stop when the process is not provably the run's worker
    assert judge(status(stage="embedding", moved_ago=limit + 5), ours=False).outcome == TRAINING


def test_each_stage_has_its_own_limit():
    """Loading weights over a slow connection may take far longer than decoding one picture."""
    still = STALL_LIMITS_S["scanning"] + 5
    assert judge(status(stage="scanning", moved_ago=still)).outcome == STALLED
    assert judge(status(stage="loading backbone", moved_ago=still)).outcome == TRAINING


def test_one_limit_for_every_stage_can_be_set(monkeypatch):
    monkeypatch.setenv("TLSTUDIO_STALL_LIMIT_S", "3")
    assert judge(status(stage="loading backbone", moved_ago=4)).outcome == STALLED
    assert judge(status(stage="loading backbone", moved_ago=2)).outcome == TRAINING


def test_settled_and_beating_read_the_status_clock():
    assert not settled(status(started_ago=WORKER_SETTLE_S - 1), NOW)
    assert settled(status(started_ago=WORKER_SETTLE_S + 1), NOW)
    assert beating(status(beat_ago=HEARTBEAT_STALE_S - 1), NOW)
    assert not beating(status(beat_ago=HEARTBEAT_STALE_S + 1), NOW)
    # before its first heartbeat a worker counts from its start
    assert beating({"started_at": NOW - 1}, NOW) and not beating({"started_at": NOW - HEARTBEAT_STALE_S - 1}, NOW)


@pytest.mark.parametrize("waited, terminated, step", [
    (0.0, False, None),
    (CANCEL_GRACE_S - 1, False, None),
    (CANCEL_GRACE_S + 1, False, "terminate"),
    (CANCEL_GRACE_S + 1, True, None),  # SIGTERM once, then wait
    (2 * CANCEL_GRACE_S, True, None),
    (3 * CANCEL_GRACE_S + 1, True, "kill"),
    (3 * CANCEL_GRACE_S + 1, False, "kill"),
])
def test_an_unhonoured_cancel_is_terminated_after_the_grace_then_killed(waited, terminated, step):
    assert cancel_step(waited, terminated) == step

"""The background runner with real worker processes: queue, cancel, crashes, restarts."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tlcore import runs
from tlcore.config import RunConfig
from tlcore.runs.supervision.dispatch import in_line
from tlcore.runs.supervision.runner import Runner
from tlcore.runs import RunFolder

from waiting import run_state, wait_for


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "runs"


def quick(two_classes, **settings):
    return RunConfig(**{"data": str(two_classes), "image_size": 64, "batch_size": 4, "epochs": 2, **settings})


def endless(two_classes):
    """A run that would take minutes: cancelled or killed by the tests long before it ends."""
    return quick(two_classes, strategy="fine_tune", epochs=500, head_epochs=0, batch_size=2)


def state(runner, run_id):
    return run_state(runner.run_dir(run_id))


def training_started(runner, run_id):
    return any(e["type"] == "batch" for e in RunFolder(runner.run_dir(run_id)).read_events()[0])


@pytest.mark.slow
def test_two_sessions_submissions_run_one_after_the_other(two_classes, runs_dir):
    first_session, second_session = Runner(runs_dir, poll_s=0.2).start(), Runner(runs_dir, poll_s=0.2).start()
    try:
        a = first_session.submit(quick(two_classes))
        b = second_session.submit(quick(two_classes, seed=1))
        seen_running = []
        def both_done():
            states = (state(first_session, a), state(first_session, b))
            seen_running.append(states.count("running"))
            return all(s in runs.FINAL_STATES for s in states)
        wait_for(both_done, timeout=120, every=0.05)
        assert state(first_session, a) == state(first_session, b) == "succeeded"
        assert max(seen_running) == 1
        status_a, status_b = (RunFolder(first_session.run_dir(r)).read_status() for r in (a, b))
        assert status_b["started_at"] >= status_a["ended_at"] - 0.5
    finally:
        first_session.stop()
        second_session.stop()


@pytest.mark.slow
def test_queued_runs_wait_their_turn_and_can_be_cancelled(two_classes, runs_dir):
    runner = Runner(runs_dir, poll_s=0.2).start()
    try:
        running = runner.submit(endless(two_classes))
        waiting = runner.submit(quick(two_classes))
        wait_for(lambda: state(runner, running) == "running")
        assert [r.run_id for r in in_line(runs.list_runs(runner.runs_dir))] == [waiting]
        runner.cancel(waiting)
        assert state(runner, waiting) == "cancelled"
        wait_for(lambda: training_started(runner, running))
        asked = time.monotonic()
        runner.cancel(running)
        wait_for(lambda: state(runner, running) == "cancelled", timeout=15)
        assert time.monotonic() - asked < 10  # "within a few seconds", with slack for a loaded 2-core machine
    finally:
        runner.stop()


@pytest.mark.slow
def test_a_killed_worker_leaves_a_failed_run_with_the_reason(two_classes, runs_dir):
    runner = Runner(runs_dir, poll_s=0.2).start()
    try:
        run_id = runner.submit(endless(two_classes))
        wait_for(lambda: training_started(runner, run_id))
        os.kill(RunFolder(runner.run_dir(run_id)).read_status()["pid"], signal.SIGKILL)
        wait_for(lambda: state(runner, run_id) == "failed", timeout=15)
        assert "SIGKILL" in RunFolder(runner.run_dir(run_id)).read_status()["error"]
    finally:
        runner.stop()


def test_a_restart_marks_a_dead_run_interrupted(two_classes, runs_dir):
    run_dir = runs.create_run(quick(two_classes), runs_dir)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    RunFolder(run_dir).update_status(state="running", pid=gone.pid, heartbeat_at=time.time())
    Runner(runs_dir)  # a server starting up
    status = RunFolder(run_dir).read_status()
    assert status["state"] == "interrupted"
    assert "interrupted" in status["error"]


@pytest.mark.slow
def test_a_restart_finds_a_live_worker_again(two_classes, runs_dir):
    old_server = Runner(runs_dir, poll_s=0.2).start()
    run_id = old_server.submit(quick(two_classes, strategy="fine_tune", epochs=40, head_epochs=0, batch_size=2))
    wait_for(lambda: training_started(old_server, run_id))
    old_server.stop()  # the server goes away; its worker runs in its own session and carries on
    new_server = Runner(runs_dir, poll_s=0.2)
    assert state(new_server, run_id) == "running"
    final = new_server.wait(run_id, timeout=120)
    assert final["state"] == "succeeded"


@pytest.mark.slow
def test_a_hung_worker_is_stopped_and_its_run_fails_with_the_reason(two_classes, runs_dir, monkeypatch):
    monkeypatch.setattr("tlcore.runs.supervision.liveness.HEARTBEAT_STALE_S", 3.0)
    runner = Runner(runs_dir, poll_s=0.2).start()
    try:
        run_id = runner.submit(endless(two_classes))
        wait_for(lambda: training_started(runner, run_id))
        pid = RunFolder(runner.run_dir(run_id)).read_status()["pid"]
        os.kill(pid, signal.SIGSTOP)  # alive, but neither training nor beating: hung
        wait_for(lambda: state(runner, run_id) == "failed", timeout=30)
        assert "stopped responding" in RunFolder(runner.run_dir(run_id)).read_status()["error"]
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)  # killed and reaped, not left hanging
    finally:
        runner.stop()


@pytest.mark.slow
def test_runs_wait_for_their_own_device_only(two_classes, runs_dir):
    runner = Runner(runs_dir, poll_s=0.2).start()
    try:
        on_cpu = runner.submit(endless(two_classes).replace(device="cpu"))
        wait_for(lambda: state(runner, on_cpu) == "running")
        next_on_cpu = runner.submit(quick(two_classes, device="cpu"))
        on_gpu = runner.submit(quick(two_classes, device="cuda"))  # another device: no need to wait
        wait_for(lambda: state(runner, on_gpu) in runs.FINAL_STATES, timeout=60)
        assert state(runner, on_cpu) == "running" and state(runner, next_on_cpu) == "queued"
        if state(runner, on_gpu) == "failed":  # this machine has no GPU: the run says so
            assert "cuda" in RunFolder(runner.run_dir(on_gpu)).read_status()["error"].lower()
        runner.cancel(on_cpu)
        runner.cancel(next_on_cpu)
    finally:
        runner.stop()


def zombie_children() -> list[int]:
    """PIDs of this process's children that have exited but were never waited for."""
    zombies = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(stat.parent.name))
    return zombies


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_finished_workers_leave_no_zombie(two_classes, runs_dir):
    runner = Runner(runs_dir, poll_s=0.2)
    finished = [runner.submit(quick(two_classes, epochs=1, seed=seed)) for seed in range(3)]
    for run_id in finished:
        assert runner.wait(run_id, timeout=120)["state"] == "succeeded"
    runner.tick()
    assert zombie_children() == []

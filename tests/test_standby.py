"""The warm worker: a standby process, imports done, takes the next run and is the run's worker in every way."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tlcore.config import RunConfig
from tlcore.runs.supervision.processes import is_worker_of, pid_alive
from tlcore.runs.supervision.runner import Runner
from tlcore.runs import RunFolder

from waiting import run_state, wait_for


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    runner = Runner(tmp_path / "home" / "runs", poll_s=0.2, warm_worker=True).start()
    yield runner
    runner.stop()


def quick(two_classes, **settings):
    return RunConfig(**{"data": str(two_classes), "image_size": 64, "batch_size": 4, "epochs": 2, **settings})


def standby_ready(runner):
    wait_for(lambda: runner.standby.current is not None and runner.standby.current.alive())
    return runner.standby.current


@pytest.mark.slow
def test_the_standby_trains_the_next_run_and_another_takes_its_place(two_classes, runner):
    standby = standby_ready(runner)
    run_id = runner.submit(quick(two_classes))
    assert runner.wait(run_id, timeout=120)["state"] == "succeeded"
    status = RunFolder(runner.run_dir(run_id)).read_status()
    assert status["pid"] == standby.process.pid and status["worker_tag"] == standby.tag
    assert "succeeded" in (runner.run_dir(run_id) / "worker.log").read_text()  # it wrote the run's log
    following = standby_ready(runner)
    assert following.process.pid != standby.process.pid
    second = runner.submit(quick(two_classes, seed=1))
    assert runner.wait(second, timeout=120)["state"] == "succeeded"
    assert RunFolder(runner.run_dir(second)).read_status()["pid"] == following.process.pid


@pytest.mark.slow
def test_a_run_on_the_standby_can_be_cancelled_and_killed_as_any(two_classes, runner):
    standby_ready(runner)
    endless = quick(two_classes, strategy="fine_tune", epochs=500, head_epochs=0, batch_size=2)
    standby = runner.standby.current
    run_id = runner.submit(endless)
    wait_for(lambda: any(e["type"] == "batch" for e in RunFolder(runner.run_dir(run_id)).read_events()[0]))
    pid = RunFolder(runner.run_dir(run_id)).read_status()["pid"]
    assert pid == standby.process.pid and RunFolder(runner.run_dir(run_id)).read_status()["worker_tag"] == standby.tag
    assert is_worker_of(pid, runner.run_dir(run_id))  # its tag proves it: the runner may signal it
    assert not is_worker_of(pid, runner.run_dir(runner.submit(quick(two_classes))))  # not another run's
    runner.cancel(run_id)
    wait_for(lambda: run_state(runner.run_dir(run_id)) == "cancelled", timeout=60)
    standby = standby_ready(runner)
    killed = runner.submit(endless)
    wait_for(lambda: run_state(runner.run_dir(killed)) == "running"
             and any(e["type"] == "batch" for e in RunFolder(runner.run_dir(killed)).read_events()[0]), timeout=120)
    assert RunFolder(runner.run_dir(killed)).read_status()["pid"] == standby.process.pid
    os.kill(standby.process.pid, signal.SIGKILL)
    wait_for(lambda: run_state(runner.run_dir(killed)) == "failed", timeout=15)
    assert "SIGKILL" in RunFolder(runner.run_dir(killed)).read_status()["error"]


@pytest.mark.slow
def test_stopping_the_runner_lets_its_standby_go(runner):
    standby = standby_ready(runner)
    runner.stop()
    assert standby.process.poll() == 0 and not pid_alive(standby.process.pid)


@pytest.mark.slow
def test_without_a_warm_worker_every_run_starts_fresh(two_classes, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "cold"))
    runner = Runner(tmp_path / "cold" / "runs", poll_s=0.2, warm_worker=False).start()
    try:
        run_id = runner.submit(quick(two_classes))
        assert runner.wait(run_id, timeout=120)["state"] == "succeeded"
        assert runner.standby.current is None and RunFolder(runner.run_dir(run_id)).read_status().get("worker_tag") is None
    finally:
        runner.stop()


@pytest.mark.slow
def test_the_standby_pays_a_first_optimizer_s_imports_before_it_has_a_run():
    """torch's optimizers import torch._dynamo the first time one is made: a second or two that the
    standby spends while it waits, not the run it is handed."""
    check = ("import sys\nfrom tlcore.runs.supervision.standby import warm_up\nassert 'torch._dynamo' not in sys.modules\n"
             "warm_up()\nassert 'torch._dynamo' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr

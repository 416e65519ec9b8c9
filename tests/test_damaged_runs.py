"""Damaged run folders and stalled workers: each costs its own run at most, never the store or the queue."""
import json
import os
import time

import pytest

from apptest_support import home, offline_weights, open_app, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.runs.supervision.runner import Runner
from tlcore.runs.supervision.watchdog import STALL_LIMITS_S, stalled_stage
from tlcore.runs.execution.worker import execute_run
from tlcore.runs import RunFolder
from ui.errors import UNEXPECTED
from waiting import run_state

DAMAGED_STATUS = {
    "null": b"null", "list": b"[]", "number": b"42", "text": b'"running"', "bad state": b'{"state": 5}',
    "unknown state": b'{"state": "exploded"}', "binary": b"\x00\xff\xfe garbage", "empty": b"",
    "half": b'{"state": "runn',
}
DAMAGED_EVENTS = [
    b"null", b"[1, 2]", b'"text"', b"42", b'{"no type": 1}',
    b'{"type": "epoch", "epoch": "x", "phase": "p", "train_loss": 1, "train_acc": 1, "val_loss": 1, '
    b'"val_acc": 1, "confusion": [[1]], "per_class": {}}',
    b'{"type": "epoch", "epoch": 1, "phase": "p", "train_loss": 1, "train_acc": 1, "val_loss": 1, '
    b'"val_acc": 1, "confusion": [[1, 0]], "per_class": {"precision": [1], "recall": [1], "f1": [1], "support": [1]}}',
    b'{"type": "batch", "epoch": 1, "step": "one", "steps": 2, "loss": 1, "phase": "p"}',
    b'{"type": "dataset", "classes": "cats"}',
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes", {"a": 6, "b": 6}, size=(40, 32))


def quick(dataset, **settings):
    return RunConfig(**{"data": str(dataset), "image_size": 64, "batch_size": 4, "epochs": 2, **settings})


def damage_a_store(runs_dir, dataset) -> dict[str, object]:
    """One run per kind of damage: status files, config files and event lines."""
    damaged = {}
    for name, content in DAMAGED_STATUS.items():
        run_dir = runs.create_run(quick(dataset, name=f"status {name}"), runs_dir)
        (run_dir / "status.json").write_bytes(content)
        damaged[f"status {name}"] = run_dir
    for name, content in {"config null": b"null", "config list": b"[1]", "config types": b'{"data": 5}',
                          "config wrong kinds": b'{"data": "/x", "epochs": "ten"}'}.items():
        run_dir = runs.create_run(quick(dataset), runs_dir)
        (run_dir / "config.json").write_bytes(content)
        RunFolder(run_dir).update_status(state="failed")
        damaged[name] = run_dir
    deep = b"[" * 100_000 + b"]" * 100_000  # deeper than Python's JSON parser recurses
    for name, content in {"deep nesting": deep, "huge pid": b'{"state": "running", "pid": 1000000000000}',
                          "group pid": b'{"state": "running", "pid": -1, "heartbeat_at": 4e9}',
                          "infinite time": b'{"state": "succeeded", "wall_s": Infinity}',
                          "far future": b'{"state": "failed", "created_at": 1e300}'}.items():
        run_dir = runs.create_run(quick(dataset, name=name), runs_dir)
        (run_dir / "status.json").write_bytes(content)
        damaged[name] = run_dir
    for file in ("status.json", "config.json", "events.jsonl"):  # reading a named pipe would block for ever
        run_dir = runs.create_run(quick(dataset, name=f"pipe {file}"), runs_dir)
        (run_dir / file).unlink()
        os.mkfifo(run_dir / file)
        damaged[f"pipe {file}"] = run_dir
    run_dir = runs.create_run(quick(dataset, name="deep event"), runs_dir)
    (run_dir / "events.jsonl").write_bytes(deep + b"\n")
    RunFolder(run_dir).update_status(state="failed")
    damaged["deep event"] = run_dir
    run_dir = runs.create_run(quick(dataset, name="events"), runs_dir)
    (run_dir / "events.jsonl").write_bytes(b"\n".join(DAMAGED_EVENTS) + b"\n")
    RunFolder(run_dir).update_status(state="succeeded", best_val_acc="high", created_at="yesterday", pid="abc")
    damaged["events"] = run_dir
    return damaged


@pytest.mark.parametrize("content", DAMAGED_STATUS.values(), ids=DAMAGED_STATUS.keys())
def test_a_damaged_status_reads_as_failed_with_the_reason(tmp_path, content):
    run_dir = runs.create_run(RunConfig(data="/d"), tmp_path)
    (run_dir / "status.json").write_bytes(content)
    status = RunFolder(run_dir).read_status()
    assert status["state"] == "failed"
    assert status["error"].startswith("The run's status file ") and "do not say how it ended" in status["error"]
    assert isinstance(status["created_at"], float)


def test_wrongly_typed_status_fields_are_dropped_not_trusted(tmp_path):
    run_dir = runs.create_run(RunConfig(data="/d"), tmp_path)
    RunFolder(run_dir).update_status(state="running", pid="abc", created_at="yesterday", heartbeat_at=[1],
                       best_val_acc=True, progress="half", error=3)
    status = RunFolder(run_dir).read_status()
    assert status == {"state": "running"}


def test_events_whose_fields_break_their_type_are_left_out(tmp_path):
    run_dir = runs.create_run(RunConfig(data="/d"), tmp_path)
    good = {"type": "fit_end", "best_epoch": 2}
    (run_dir / "events.jsonl").write_bytes(b"\n".join(DAMAGED_EVENTS) + b"\n" + json.dumps(good).encode() + b"\n")
    events, _ = RunFolder(run_dir).read_events()
    assert events == [good]


def test_a_succeeded_run_stays_succeeded_when_its_status_is_damaged(tmp_path, dataset, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    run_dir = runs.create_run(quick(dataset), paths.runs_dir())
    final = execute_run(run_dir)
    assert final["state"] == "succeeded"
    (run_dir / "status.json").write_bytes(b"[]")
    rebuilt = RunFolder(run_dir).read_status()
    assert rebuilt["state"] == "succeeded" and rebuilt["best_val_acc"] == final["best_val_acc"]
    assert "rebuilt from its events" in rebuilt["damaged"]
    assert [r.state for r in runs.list_runs(paths.runs_dir())] == ["succeeded"]
    (run_dir / "model_best.pt").unlink()  # without its model, "succeeded" would be a lie
    assert RunFolder(run_dir).read_status()["state"] == "failed"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_runner_starts_and_the_queue_goes_on_beside_damaged_runs(tmp_path, dataset, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    damage_a_store(paths.runs_dir(), dataset)
    runner = Runner(paths.runs_dir(), poll_s=0.2)  # raised at start-up before
    run_id = runner.submit(quick(dataset, name="after the damage"))
    assert runner.wait(run_id, timeout=120)["state"] == "succeeded"
    listed = runs.list_runs(paths.runs_dir())
    assert len(listed) == len(DAMAGED_STATUS) + 15
    assert all(run.state in runs.STATES for run in listed)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_runs_page_shows_every_damaged_run_in_words(home, dataset):
    damaged = damage_a_store(paths.runs_dir(), dataset)
    at = open_app("app_pages/runs.py")
    for name, run_dir in damaged.items():
        at.selectbox(key="run_picker").select(run_dir.name).run()
        assert not at.exception, name
        assert UNEXPECTED not in texts(at.error), name
        if name.startswith("status") or name in ("deep nesting", "pipe status.json"):
            assert "The run's status file" in texts(at.error), name


def test_stall_limits_follow_the_stage(monkeypatch):
    monkeypatch.delenv("TLSTUDIO_STALL_LIMIT_S", raising=False)
    now = time.time()
    scanning = {"stage": {"name": "scanning"}, "progress_at": now - STALL_LIMITS_S["scanning"] - 1}
    assert stalled_stage(scanning, now) == ("scanning", pytest.approx(STALL_LIMITS_S["scanning"] + 1))
    loading = {"stage": {"name": "loading backbone"}, "progress_at": now - STALL_LIMITS_S["scanning"] - 1}
    assert stalled_stage(loading, now) is None  # fetching weights may take far longer than a file
    assert stalled_stage({"stage": None, "started_at": now - 10}, now) is None


@pytest.mark.slow
def test_a_run_whose_work_stops_moving_is_stopped_and_says_where(tmp_path, dataset, monkeypatch):
    """The worker's heartbeat goes on; only its work is "stuck" (the limit is far below a step's time)."""
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TLSTUDIO_STALL_LIMIT_S", "0.05")
    runner = Runner(paths.runs_dir(), poll_s=0.2)
    run_id = runner.submit(quick(dataset, strategy="fine_tune", epochs=500, head_epochs=0, batch_size=2))
    status = runner.wait(run_id, timeout=120)
    assert status["state"] == "failed"
    assert "The run stopped making progress while" in status["error"]
    monkeypatch.delenv("TLSTUDIO_STALL_LIMIT_S")
    second = runner.submit(quick(dataset))  # the device is free again
    assert runner.wait(second, timeout=120)["state"] == "succeeded"
    assert run_state(runner.run_dir(run_id)) == "failed"


@pytest.mark.parametrize("content", [b'{"data": "/x", "epo', b"\xff\xfe not text", b""],
                         ids=["cut short", "not utf-8", "empty"])
def test_a_run_whose_config_was_damaged_while_it_waited_fails_in_words(tmp_path, dataset, content):
    run_dir = runs.create_run(quick(dataset), tmp_path / "runs")
    (run_dir / RunFolder.CONFIG).write_bytes(content)
    status = execute_run(run_dir)
    assert status["state"] == "failed"
    assert status["error"].startswith("The run's settings file (config.json) is damaged")
    assert "Unexpected" not in status["error"] and "Expecting" not in status["error"]

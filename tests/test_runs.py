"""The run store: atomic writes, incremental event reads, listing, config round trip."""
import json
import os
import shutil

import pytest

from tlcore.jsonio import write_json_atomic
from tlcore import runs
from tlcore.config import ConfigError, RunConfig
from tlcore.runs import RunFolder


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def test_config_round_trips_and_validates(tmp_path):
    config = RunConfig(data="/d", backbone="resnet18", strategy="fine_tune", epochs=3, lr=1e-4, extra={"note": 1})
    path = tmp_path / "config.json"
    config.save(path)
    assert RunConfig.load(path) == config
    with pytest.raises(ConfigError, match="Epochs"):
        RunConfig(data="/d", epochs=0)
    with pytest.raises(ConfigError, match="Unknown settings.*colour"):
        RunConfig.from_dict({"data": "/d", "colour": "red"})


def test_the_run_store_refuses_what_the_registries_do_not_know(runs_dir):
    with pytest.raises(ConfigError, match="Unknown strategy 'magic'"):
        runs.create_run(RunConfig(data="/d", strategy="magic"), runs_dir)
    with pytest.raises(ConfigError, match="Unknown head 'deep'"):
        runs.create_run(RunConfig(data="/d", head="deep"), runs_dir)
    with pytest.raises(ConfigError, match="no setting colour"):
        runs.create_run(RunConfig(data="/d", strategy="fine_tune", options={"colour": 1.0}), runs_dir)
    with pytest.raises(ConfigError, match="between 0 and 100, not -1"):
        runs.create_run(RunConfig(data="/d", strategy="l2_sp", options={"alpha": -1.0}), runs_dir)
    with pytest.raises(ConfigError, match="needs a folder of pictures"):
        runs.create_run(RunConfig(data="/d", strategy="domain_adaptation"), runs_dir)
    with pytest.raises(ConfigError, match="training pictures themselves"):
        runs.create_run(RunConfig(data="/d", strategy="domain_adaptation", target="/d/"), runs_dir)
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []


def test_create_run_writes_config_and_queued_status(runs_dir):
    run_dir = runs.create_run(RunConfig(data="/d"), runs_dir)
    assert RunFolder(run_dir).load_config().data == "/d"
    assert RunFolder(run_dir).read_status()["state"] == "queued"
    assert (run_dir / "events.jsonl").exists()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "status.json"
    for i in range(20):
        write_json_atomic(target, {"i": i})
    assert json.loads(target.read_text()) == {"i": 19}
    assert os.listdir(tmp_path) == ["status.json"]


def test_events_are_read_incrementally_and_half_lines_wait(runs_dir):
    run_dir = runs.create_run(RunConfig(data="/d"), runs_dir)
    RunFolder(run_dir).append_event({"type": "note", "loss": 1.0})
    events, offset = RunFolder(run_dir).read_events()
    assert events == [{"type": "note", "loss": 1.0}]
    with open(run_dir / "events.jsonl", "a") as f:
        f.write('{"type": "fit_end", "best_')  # a writer caught mid-line
    events, same = RunFolder(run_dir).read_events(offset)
    assert events == [] and same == offset
    with open(run_dir / "events.jsonl", "a") as f:
        f.write('epoch": 5}\n')
    log = runs.EventLog(run_dir)
    log.refresh()
    assert log.of_type("fit_end") == [{"type": "fit_end", "best_epoch": 5}]
    assert log.refresh() == []


def test_a_damaged_event_line_costs_that_event_only(runs_dir):
    run_dir = runs.create_run(RunConfig(data="/d"), runs_dir)
    RunFolder(run_dir).append_event({"type": "fit_end", "best_epoch": 1})
    with open(run_dir / "events.jsonl", "ab") as f:
        f.write(b"\x00\x00 {not json\n")  # a full disk, a crash mid-write, an editor
    RunFolder(run_dir).append_event({"type": "fit_end", "best_epoch": 2})
    events, _ = RunFolder(run_dir).read_events()
    assert [e["best_epoch"] for e in events] == [1, 2]


def test_list_runs_newest_first_and_damaged_runs_are_shown(runs_dir):
    first = runs.create_run(RunConfig(data="/a"), runs_dir)
    second = runs.create_run(RunConfig(data="/b"), runs_dir)
    RunFolder(first).update_status(created_at=1.0)
    (second / "config.json").write_text("{not json")
    listed = runs.list_runs(runs_dir)
    assert [r.run_id for r in listed] == [second.name, first.name]
    assert listed[0].config is None


def test_cancel_request_is_a_file(runs_dir):
    run_dir = runs.create_run(RunConfig(data="/d"), runs_dir)
    assert not RunFolder(run_dir).cancel_requested()
    RunFolder(run_dir).request_cancel()
    assert RunFolder(run_dir).cancel_requested()


def test_listing_again_reads_only_what_changed(runs_dir, monkeypatch):
    """A finished run's files are read once while they stay as they were; any write is seen at once."""
    from tlcore.runs.store.notes import RunNotes, save_notes

    done = runs.create_run(RunConfig(data="/d"), runs_dir)
    RunFolder(done).update_status(state="succeeded", best_val_acc=0.5)
    live = runs.create_run(RunConfig(data="/e"), runs_dir)
    runs.list_runs(runs_dir)
    reads = []
    real_load_config = RunFolder.load_config
    monkeypatch.setattr(RunFolder, "load_config", lambda folder: reads.append(folder.run_id) or real_load_config(folder))
    listed = {r.run_id: r for r in runs.list_runs(runs_dir)}
    assert reads == [live.name]  # a queued run's status may change any moment: read every time
    assert listed[done.name].status["best_val_acc"] == 0.5
    listed[done.name].status["best_val_acc"] = 0.9  # a caller's change stays its own
    RunFolder(done).update_status(best_val_acc=0.75)
    save_notes(done, RunNotes(name="Renamed"))
    again = {r.run_id: r for r in runs.list_runs(runs_dir)}
    assert again[done.name].status["best_val_acc"] == 0.75 and again[done.name].notes.name == "Renamed"
    shutil.rmtree(done)
    assert [r.run_id for r in runs.list_runs(runs_dir)] == [live.name]

"""A run's name, note and star beside its folder; default names that tell runs apart; deleting a run safely."""
import json
import os
import time

import pytest

from tlcore.runs.store import notes as run_notes
from tlcore import runs
from tlcore.config import RunConfig
from tlcore.runs.store.notes import NotARunError, RunBusyError, RunNotes
from tlcore.runs import RunFolder


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def finished(runs_dir, state="succeeded", **config):
    run_dir = runs.create_run(RunConfig(data="/data/shapes", **config), runs_dir)
    RunFolder(run_dir).update_status(state=state)
    return run_dir


def test_notes_are_kept_beside_the_config_which_stays_as_written(runs_dir):
    run_dir = finished(runs_dir)
    config_before = (run_dir / "config.json").read_text()
    assert run_notes.load_notes(run_dir) == RunNotes()
    run_notes.rename_run(run_dir, "  Shoes,\n first   try ")
    run_notes.set_note(run_dir, "Try more rounds next time.\n")
    run_notes.star_run(run_dir)
    assert run_notes.load_notes(run_dir) == RunNotes("Shoes, first try", "Try more rounds next time.", True)
    assert json.loads((run_dir / "notes.json").read_text())["name"] == "Shoes, first try"
    assert (run_dir / "config.json").read_text() == config_before
    run_notes.rename_run(run_dir, "   ")  # empty: back to the default name, the rest kept
    assert run_notes.load_notes(run_dir) == RunNotes("", "Try more rounds next time.", True)
    assert run_notes.rename_run(run_dir, "x" * 500).name == "x" * run_notes.MAX_NAME_CHARS


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"a name"',
                                     b'{"name": 3, "note": ["x"], "starred": "yes"}'])
def test_a_damaged_notes_file_reads_as_no_notes(runs_dir, content):
    run_dir = finished(runs_dir)
    (run_dir / "notes.json").write_bytes(content)
    assert run_notes.load_notes(run_dir) == RunNotes()
    assert runs.list_runs(runs_dir)[0].notes == RunNotes()  # and the run is still listed


@pytest.mark.timeout(30)
def test_a_notes_file_that_is_no_file_is_never_read(runs_dir):
    run_dir = finished(runs_dir)
    os.mkfifo(run_dir / "notes.json")  # reading a named pipe would block the page for ever
    assert run_notes.load_notes(run_dir) == RunNotes()
    deep = finished(runs_dir)
    (deep / "notes.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)  # deeper than Python's JSON parser goes
    assert run_notes.load_notes(deep) == RunNotes()


def test_a_notes_file_with_some_good_fields_keeps_them(runs_dir):
    run_dir = finished(runs_dir)
    (run_dir / "notes.json").write_text(json.dumps({"name": "Kept", "note": 5, "starred": True, "extra": 1}))
    assert run_notes.load_notes(run_dir) == RunNotes("Kept", "", True)


def test_list_runs_reads_notes_and_numbers_runs_that_share_dataset_and_strategy(runs_dir):
    first = finished(runs_dir)
    time.sleep(0.01)
    second = finished(runs_dir)
    other = finished(runs_dir, strategy="fine_tune")
    third = finished(runs_dir, extra={"dataset": "shapes"})  # the chosen name is the same dataset name
    run_notes.star_run(second)
    listed = {summary.run_id: summary for summary in runs.list_runs(runs_dir)}
    assert [listed[d.name].repeat for d in (first, second, other, third)] == [1, 2, 1, 3]
    assert listed[second.name].notes.starred and not listed[first.name].notes.starred


def test_delete_removes_a_finished_run_and_nothing_else(runs_dir, tmp_path):
    keep = finished(runs_dir)
    gone = finished(runs_dir, state="cancelled")
    (gone / "model_best.pt").write_bytes(b"weights")
    assert run_notes.delete_run(gone, runs_dir) is True
    assert not gone.exists() and keep.is_dir()
    assert sorted(os.listdir(runs_dir)) == [keep.name]  # no hidden leftover either
    assert run_notes.delete_run(gone, runs_dir) is False  # already gone (another tab): no error


@pytest.mark.parametrize("state", ["queued", "running"])
def test_delete_refuses_a_run_that_may_still_be_written(runs_dir, state):
    run_dir = finished(runs_dir, state=state)
    with pytest.raises(RunBusyError, match=f"still {state}. Cancel it first"):
        run_notes.delete_run(run_dir, runs_dir)
    assert (run_dir / "config.json").is_file()


def test_delete_never_reaches_outside_the_runs_folder(runs_dir, tmp_path):
    finished(runs_dir)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "status.json").write_text(json.dumps({"state": "succeeded"}))
    link = runs_dir / "looks-like-a-run"
    link.symlink_to(outside, target_is_directory=True)
    hidden = runs_dir / ".dispatch.lock"
    hidden.mkdir()
    for target in (outside, link, hidden, runs_dir, runs_dir / ".." / "precious", runs_dir / "sub" / "deeper"):
        with pytest.raises(NotARunError):
            run_notes.delete_run(target, runs_dir)
    assert (outside / "status.json").is_file() and link.is_symlink() and hidden.is_dir()


def test_dataset_name_prefers_the_name_the_person_chose():
    assert run_notes.dataset_name(RunConfig(data="/srv/data/ab12cd")) == "ab12cd"
    assert run_notes.dataset_name(RunConfig(data="/srv/data/ab12cd", extra={"dataset": "fm5"})) == "fm5"
    assert run_notes.dataset_name(RunConfig(data="/srv/data/ab12cd", extra={"dataset": 5})) == "ab12cd"

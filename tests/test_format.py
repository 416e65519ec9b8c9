"""How the app words a run's facts: names, times, accuracies, progress."""
import time
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.runs import RunSummary
from ui import format as fmt


def summary(status: dict, **config) -> RunSummary:
    settings = {"data": "/data/holiday-photos", **config}
    return RunSummary("20261122-101500-ab12", Path("/runs/20261122-101500-ab12"), RunConfig(**settings), status)


def test_durations_read_like_a_clock():
    assert [fmt.duration(s) for s in (None, 0.4, 42, 185, 3720)] == ["—", "0 s", "42 s", "3 min 05 s", "1 h 02 min"]


def test_a_queued_run_shows_how_long_it_has_waited():
    queued = summary({"state": "queued", "created_at": time.time() - 75})
    assert fmt.time_text(queued) == "waiting 1 min 15 s"


def test_running_and_finished_runs_show_their_training_time():
    running = summary({"state": "running", "created_at": time.time() - 100, "started_at": time.time() - 30})
    assert fmt.time_text(running) in ("30 s", "31 s")  # the waiting time is not counted
    finished = summary({"state": "succeeded", "started_at": 1.0, "ended_at": 50.0, "wall_s": 48.6})
    assert fmt.time_text(finished) == "49 s"


def test_accuracy_before_during_and_after_training():
    assert fmt.accuracy_text(summary({"state": "running"})) == "—"
    assert fmt.accuracy_text(summary({"state": "running", "best_val_acc": 0.8712})) == "87.1% so far"
    assert fmt.accuracy_text(summary({"state": "succeeded", "best_val_acc": 0.9375})) == "93.8%"


def test_a_run_is_named_by_its_dataset_and_strategy_unless_named():
    assert fmt.run_name(summary({}, backbone="resnet18")) == "holiday-photos · feature extraction"
    assert fmt.run_name(summary({}, name="Shoes, first try")) == "Shoes, first try"

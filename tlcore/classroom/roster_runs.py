"""Everyone's runs in a class, as the teacher's table shows them and as CSV."""
from __future__ import annotations

import csv
import io
import time

from tlcore.people.person import NotYours, Person, owner_name, teaches
from tlcore.runs.store.listing import RunSummary, list_runs
from tlcore.runs.store.notes import dataset_name

COLUMNS = ["student", "run", "dataset", "strategy", "network", "state", "best_val_acc", "test_acc", "seconds",
           "started"]


def check_teacher(person: Person, class_name: str, action: str) -> None:
    """NotYours unless the person is this class's teacher."""
    if not teaches(person, class_name):
        raise NotYours(f"Only the class's teacher can {action}.")


def class_runs(class_name: str, person: Person, runs_dir=None) -> list[RunSummary]:
    """Every run of the class's members (and of accounts signed in to it), newest first."""
    check_teacher(person, class_name, "see the whole class's runs")
    prefix = f"{class_name}/"
    return [run for run in list_runs(runs_dir, person=person) if run.owner.startswith(prefix)]


def result_rows(runs: list[RunSummary], test_scores: dict[str, dict]) -> list[dict]:
    """One row per run in plain values: the teacher's table and the CSV alike."""
    rows = []
    for run in runs:
        config, status = run.config, run.status
        score = test_scores.get(run.run_id, {})
        rows.append({
            "student": owner_name(run.owner),
            "run": (run.notes.name if run.notes and run.notes.name else (config.name if config else "")) or run.run_id,
            "dataset": dataset_name(config) if config else "",
            "strategy": config.strategy if config else "",
            "network": config.backbone if config else "",
            "state": run.state,
            "best_val_acc": status.get("best_val_acc"),
            "test_acc": score.get("accuracy"),
            "seconds": status.get("wall_s"),
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at)) if run.created_at else "",
            "run_id": run.run_id,
        })
    return rows


def results_csv(rows: list[dict]) -> str:
    """The class's results as CSV (UTF-8 text), one line per run, in the table's columns."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*COLUMNS, "run_id"], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return out.getvalue()


def _cell(value):
    """A cell a spreadsheet shows as written: text that starts like a formula is quoted (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value

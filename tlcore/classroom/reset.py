"""A class reset between two classes: every student's work archived, out of sight, nothing deleted.

    <studio home>/classes/<class>/archive/<when>/runs/<run id>/...
                                               /experiments/<experiment id>/...
                                               /datasets/<dataset id>/...
                                               /scores/<run id>.json

Archived runs, experiments and datasets leave the store's lists (they are no longer in its folders);
the teacher's own work, the roster and the rules stay. A reset is refused while a student's run is
waiting or training: cancel those first (the teacher can, from the Runs page).
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from tlcore.classroom.leaderboard import SCORES
from tlcore.classroom.roster_runs import check_teacher, class_runs
from tlcore.data.datasets import library_dir, list_datasets
from tlcore.errors import InputError
from tlcore.people.accounts import person_from_key
from tlcore.people.person import Person
from tlcore.people.roster import classes_dir, load_roster, release_removed_names
from tlcore.runs.experiments.grid import list_experiments

ARCHIVE = "archive"


def reset_class(class_name: str, person: Person, runs_dir=None) -> dict:
    """Move every student's runs, experiments, datasets and scores into the class's archive.

    Returns:
        {"archive": the folder, "runs": n, "experiments": n, "datasets": n}
    Raises:
        NotYours: not the teacher. InputError: a student's run is still waiting or training.
    """
    check_teacher(person, class_name, "reset the class")
    roster = load_roster(class_name)

    def a_students(owner: str) -> bool:
        return owner.startswith(f"{roster['name']}/") and not person_from_key(owner).is_teacher

    runs = [run for run in class_runs(roster["name"], person, runs_dir) if a_students(run.owner)]
    busy = [run for run in runs if run.state in ("queued", "running")]
    if busy:
        raise InputError(f"{len(busy)} of the students' runs are still waiting or training; cancel them on the "
                         "Runs page (or wait for them to end), then reset the class.")
    archive = classes_dir() / roster["name"] / ARCHIVE / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    moved = {"runs": 0, "experiments": 0, "datasets": 0}
    for run in runs:
        moved["runs"] += _move(run.run_dir, archive / "runs")
    for experiment in list_experiments(person):
        if a_students(experiment.owner):
            moved["experiments"] += _move(experiment.folder, archive / "experiments")
    for record in list_datasets(person):
        if a_students(record.owner):
            moved["datasets"] += _move(library_dir() / record.id, archive / "datasets")
    scores = classes_dir() / roster["name"] / SCORES
    if scores.is_dir():
        _move(scores, archive)
    release_removed_names(roster["name"])  # their work is archived: the names may be given again
    return {"archive": str(archive), **moved}


def _move(source: Path, into: Path) -> int:
    """Move a folder into `into` (same file system: one rename, so no reader sees half of it)."""
    into.mkdir(parents=True, exist_ok=True)
    os.rename(source, into / source.name)
    return 1


def archived(class_name: str) -> list[str]:
    folder = classes_dir() / class_name / ARCHIVE
    return sorted((p.name for p in folder.iterdir() if p.is_dir()), reverse=True) if folder.is_dir() else []

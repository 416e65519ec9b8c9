"""A class leaderboard: every finished run scored on a test set the teacher keeps to themselves.

    <studio home>/classes/<class>/test_set.json        {"dataset": the id of one of the teacher's datasets}
    <studio home>/classes/<class>/scores/<run id>.json {"test_set", "accuracy", "pictures", "scored_at"}
                                                        or {"test_set", "not_scored": the reason in words}

The test set is an ordinary dataset of the teacher's, never shared: students do not see its pictures,
only (on the teacher's page) how their runs did on them. Every picture of it counts, whatever its
split. A run is scored once per test set, by the app's runner between dispatches (score_waiting).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from tlcore import paths
from tlcore.classroom.roster_runs import check_teacher, class_runs
from tlcore.data.datasets import DatasetRecord, load_manifest, load_record
from tlcore.data.imagecache import ImageCache
from tlcore.errors import InputError
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.accounts import person_from_key
from tlcore.people.person import Person, owner_name
from tlcore.people.roster import classes_dir, load_roster
from tlcore.runs.store.folder import RunFolder

log = logging.getLogger(__name__)

TEST_SET = "test_set.json"
SCORES = "scores"
BATCH = 64


def set_test_set(class_name: str, dataset_id: str | None, person: Person) -> DatasetRecord | None:
    """The teacher keeps one of the teachers' datasets as the class's test set (None: no test set any more)."""
    check_teacher(person, class_name, "choose the class's test set")
    roster = load_roster(class_name)
    record = None
    if dataset_id is not None:
        record = load_record(dataset_id, person)
        if record is None or not kept_by_a_teacher(record):
            raise InputError("The test set must be a dataset of the class's teacher that is not shared with the "
                             "class, so students never see its pictures.")
    write_json_atomic(classes_dir() / roster["name"] / TEST_SET, {"dataset": dataset_id})
    return record


def kept_by_a_teacher(record: DatasetRecord) -> bool:
    """A teacher's (or the machine's own) dataset that students do not see."""
    return not record.shared and person_from_key(record.owner).is_teacher


def test_set(class_name: str) -> DatasetRecord | None:
    """The class's test set, while it is still one (a dataset shared since, or deleted, is none)."""
    raw = read_json(classes_dir() / class_name / TEST_SET, default=None)
    wanted = raw.get("dataset") if isinstance(raw, dict) else None
    record = load_record(wanted) if isinstance(wanted, str) else None
    return record if record is not None and kept_by_a_teacher(record) else None


def scores(class_name: str) -> dict[str, dict]:
    """run id -> its score on the current test set (runs scored on an earlier one are left out)."""
    record = test_set(class_name)
    folder = classes_dir() / class_name / SCORES
    if record is None or not folder.is_dir():
        return {}
    found = {}
    for path in folder.glob("*.json"):
        score = read_json(path, default=None)
        if isinstance(score, dict) and score.get("test_set") == record.id:
            found[path.stem] = score
    return found


def leaderboard(class_name: str, person: Person, runs_dir=None) -> list[dict]:
    """The scored runs, best first: {"student", "run_id", "accuracy", "pictures"}."""
    check_teacher(person, class_name, "see the leaderboard")
    scored = scores(class_name)
    rows = [{"student": owner_name(run.owner), "run_id": run.run_id, "accuracy": scored[run.run_id]["accuracy"],
             "pictures": scored[run.run_id]["pictures"]}
            for run in class_runs(class_name, person, runs_dir)
            if "accuracy" in scored.get(run.run_id, {})]
    return sorted(rows, key=lambda row: -row["accuracy"])


def score_waiting(class_name: str, teacher: Person, runs_dir=None, limit: int = 1) -> int:
    """Score up to `limit` finished runs of the class not yet scored on its test set; returns how many."""
    record = test_set(class_name)
    if record is None:
        return 0
    done = scores(class_name)
    waiting = [run for run in class_runs(class_name, teacher, runs_dir)
               if run.state == "succeeded" and run.run_id not in done and RunFolder(run.run_dir).has_model()]
    for run in waiting[:limit]:
        try:
            score = score_run(run.run_dir, record)
        except Exception as error:  # whatever went wrong is said once, never tried again every two seconds
            if not isinstance(error, (OSError, ValueError)):
                log.exception("scoring %s on the test set failed", run.run_id)
            score = {"not_scored": f"it could not be scored ({type(error).__name__}: {error})"}
        _save(class_name, run.run_id, {"test_set": record.id, **score})
    return len(waiting[:limit])


def score_run(run_dir: Path, record: DatasetRecord) -> dict:
    """{"accuracy", "pictures", "scored_at"} of the run's model on every picture of the test set; or
    {"not_scored": why} when its classes are not the test set's."""
    from tlcore.serve.predictor import Predictor  # torch: only where a run is scored

    predictor = Predictor(run_dir)
    manifest = load_manifest(record)
    if sorted(predictor.labels) != sorted(manifest.classes):
        return {"not_scored": f"its classes ({', '.join(predictor.labels)}) are not the test set's "
                              f"({', '.join(manifest.classes)})"}
    cache = ImageCache(paths.cache_dir())
    samples = [s for s in manifest.samples if Path(s.path).is_file() or cache.has(s.key, predictor.image_size)]
    right = 0
    for start in range(0, len(samples), BATCH):
        batch = samples[start:start + BATCH]
        keys = [cache.ensure(s.path, predictor.image_size, s.key) if not cache.has(s.key, predictor.image_size)
                else s.key for s in batch]
        answers = predictor.predict_arrays(np.asarray(cache.load_stack(keys, predictor.image_size)), top_k=1)
        right += sum(answer[0][0] == manifest.classes[s.label] for answer, s in zip(answers, batch))
    if not samples:
        return {"not_scored": "none of the test set's pictures could be read"}
    return {"accuracy": round(right / len(samples), 5), "pictures": len(samples), "scored_at": time.time()}


def _save(class_name: str, run_id: str, score: dict) -> None:
    folder = classes_dir() / class_name / SCORES
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{run_id}.json", score)

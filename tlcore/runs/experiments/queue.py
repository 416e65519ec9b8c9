"""An experiment's runs set going: queued through the app's runner, or run one after another by the CLI.

Cells become runs here (start_cell) and cancel is sent to those runs, so the run folders stay the
only channel between workers and pages. A run that a restart interrupted is queued again when the
experiment is next looked at (resume_experiment): an experiment survives a restart like a run does.
Cells that start from the experiment's source run wait until it has succeeded.
"""
from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from tlcore.config import ConfigError, RunConfig
from tlcore.data.manifest import Manifest
from tlcore.runs.experiments.grid import (ALL, SOURCE, WRITE_LOCK, Cell, Experiment, cell_state, is_finished,
                                     list_experiments, load_experiment)
from tlcore.people.accounts import person_from_key
from tlcore.people.class_rules import RuleRefusal, TooManyWaiting
from tlcore.people.person import LOCAL, NotYours, Person, may_change
from tlcore.runs.store.folder import RunFolder, resolve_runs_dir


Submit = Callable[[RunConfig, Manifest, Person], str]  # queue a run for its owner (the runner's submit); its id


def start_cell(experiment: Experiment, cell: Cell, submit: Submit, manifest: Manifest,
               runs_dir: Path | None = None) -> str | None:
    """Make the cell's run through submit; a config the studio refuses is kept as the cell's reason.

    Raises TooManyWaiting when its student has as many runs waiting as their class allows."""
    from tlcore.training.checks import check_config  # the registries bring torch: only when a run is made

    try:
        source_dir = str(resolve_runs_dir(runs_dir) / experiment.source_run) if experiment.source_run else None
        config = cell.config({**experiment.base, "name": cell_name(experiment, cell),
                              "extra": {"experiment": experiment.experiment_id,
                                        "dataset": experiment.dataset_label}}, experiment.data, source_dir)
        check_config(config)
        cell.run_id = submit(config, manifest, person_from_key(experiment.owner))
    except TooManyWaiting:
        raise  # not a refusal of this cell: not yet (queue_experiment stops; the runner comes back to it)
    except (ConfigError, RuleRefusal) as error:
        cell.refused = str(error)
    experiment.save()
    return cell.run_id


def cell_name(experiment: Experiment, cell: Cell) -> str:
    size = "all" if cell.per_class == ALL else f"{cell.per_class}/class"
    return f"{experiment.name or 'experiment'} · {cell.arm} · {size} · seed {cell.seed}"


def needs_source(cell: Cell) -> bool:
    return SOURCE in cell.overrides.values()


def source_state(experiment: Experiment, runs_dir: Path) -> str | None:
    """The source run's state (None without one); an ended one that did not succeed refuses, with the
    reason, the cells that start from it (the others go on)."""
    if not experiment.source_run:
        return None
    status = RunFolder(runs_dir / experiment.source_run).read_status()
    state = status.get("state")
    if state in ("failed", "cancelled"):
        why = status.get("error") or f"it was {state}"
        for cell in experiment.cells:
            if needs_source(cell) and cell.run_id is None and cell.refused is None:
                cell.refused = f"The source run {experiment.source_run} did not finish: {why}"
    return state


@contextmanager
def locked(experiment: Experiment):
    """The experiment as on disk now, held against other writers (the page, the runner's thread, another
    process) until the block ends; the object passed in takes its state afterwards."""
    with WRITE_LOCK, open(experiment.folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            fresh = load_experiment(experiment.folder)
            yield fresh
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    experiment.cells, experiment.cancelled, experiment.source_run = fresh.cells, fresh.cancelled, fresh.source_run


def queue_experiment(experiment: Experiment, submit: Submit, runs_dir: str | Path | None = None) -> int:
    """Queue every cell that has no run yet (the page's Start; again after a crash mid-way); returns how many.
    Cells that start from the experiment's source run wait until it has succeeded; a student's cells past the
    runs they may have waiting wait until some have started."""
    runs_dir = resolve_runs_dir(runs_dir)
    with locked(experiment) as current:
        if current.cancelled:
            return 0
        source = source_state(current, runs_dir)
        ready = [cell for cell in current.cells if cell.run_id is None and cell.refused is None
                 and (not needs_source(cell) or source == "succeeded")]
        queued = 0
        if ready:
            manifest = Manifest.load(current.manifest_path)
            for cell in ready:
                try:
                    start_cell(current, cell, submit, manifest, runs_dir)
                except TooManyWaiting:  # a student's experiment is fed in as their runs start (advance_experiments)
                    break
                queued += 1
        elif source in ("failed", "cancelled"):
            current.save()  # the cells it refused
        return queued


def resume_experiment(experiment: Experiment, submit: Submit, runs_dir: str | Path | None = None) -> int:
    """Queue again the runs a restart interrupted, and any cell not queued yet; returns how many."""
    runs_dir = resolve_runs_dir(runs_dir)
    with locked(experiment) as current:
        if current.cancelled:
            return 0
        changed = False
        if current.source_run and RunFolder(runs_dir / current.source_run).read_status().get("state") == "interrupted":
            source = RunFolder(runs_dir / current.source_run)
            current.earlier_source_runs.append(current.source_run)
            current.source_run = submit(source.load_config(), source.load_checked_manifest(),
                                        person_from_key(current.owner))
            changed = True
        for cell in current.cells:
            if cell_state(cell, runs_dir) == "interrupted":
                cell.earlier_runs.append(cell.run_id)
                cell.run_id = None
                changed = True
        if changed:
            current.save()
    return queue_experiment(experiment, submit, runs_dir)


def advance_experiments(submit: Submit, runs_dir: str | Path | None = None) -> None:
    """Move every unfinished experiment on: interrupted runs queued again, waiting cells queued once their
    source run has finished. The app's runner calls it between dispatches, so no page needs to be open."""
    for experiment in list_experiments():
        try:
            if experiment.driver == "runner" and not experiment.cancelled and not is_finished(experiment, runs_dir):
                resume_experiment(experiment, submit, runs_dir)
        except (OSError, ValueError, KeyError, TypeError) as error:  # one damaged experiment must not stop the rest
            print(f"experiment {experiment.experiment_id} cannot move on: {error!r}", file=sys.stderr)


def cancel_experiment(experiment: Experiment, cancel: Callable[[str, Person], None],
                      runs_dir: str | Path | None = None, person: Person = LOCAL) -> None:
    """Stop the rest, on a person's behalf: no cell is queued any more, and its queued and running runs are
    cancelled. NotYours unless the experiment is theirs or they are the teacher."""
    if not may_change(person, experiment.owner):
        raise NotYours("Only the person who started this experiment or the teacher can cancel it.")
    with locked(experiment) as current:
        current.cancelled = True
        current.save()
    runs_dir = resolve_runs_dir(runs_dir)
    for cell in experiment.cells:
        if cell.run_id and cell_state(cell, runs_dir) in ("queued", "running"):
            cancel(cell.run_id, person)


def run_here(experiment: Experiment, execute: Callable[[Path], dict], runs_dir: str | Path | None = None,
             on_run: Callable[[Cell, dict], None] = lambda *_: None) -> None:
    """Run the cells one after another in this process (the CLI, an experiment made with driver "cli"),
    each made just before it trains, so a server's runner never takes them from the queue; a failed run
    does not stop the rest."""
    from tlcore.models.kept_weights import weights_kept
    from tlcore.runs.store.creation import create_run  # checks configs against the registries: torch

    runs_dir = resolve_runs_dir(runs_dir)
    manifest = Manifest.load(experiment.manifest_path)
    with weights_kept():  # each network's weights read and checked once, for every run
        for cell in experiment.cells:
            if cell.run_id is not None or cell.refused is not None:
                continue
            run_id = start_cell(experiment, cell, lambda config, checked, owner: create_run(
                config, runs_dir, checked, claimed_by=os.getpid(), owner=owner).name, manifest, runs_dir)
            status = execute(runs_dir / run_id) if run_id else {"state": "refused", "error": cell.refused}
            on_run(cell, status)
            if status.get("state") == "cancelled":  # Ctrl-C: the person stops the experiment, not one run
                experiment.cancelled = True
                experiment.save()
                return

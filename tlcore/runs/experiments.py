"""Experiments: a grid of ordinary runs over one dataset, all measured on one fixed validation set.

An experiment is a folder (experiments/<id>/) holding its definition and its cells (experiment.json:
the grid, the settings its runs share, and per cell the run that answers it). Its runs are ordinary
runs, queued through the runner or run one after another by the CLI; progress, results and cancel
are read from them and sent to them, so the run folders stay the only channel between workers and
pages. A run that a restart interrupted is queued again when the experiment is next looked at
(resume_experiment): an experiment survives a restart like a run does.

The validation pictures are drawn once, with seed 0, when the experiment is made; every run trains
on that split (marked as given), each size drawing its training pictures per class with its seed.
Feature-extraction runs of every size and seed therefore share one feature pass per network.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import sys
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tlcore import paths
from tlcore.config import ConfigError, RunConfig
from tlcore.data.manifest import Manifest
from tlcore.data.scan import for_run
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.runs.creation import create_run
from tlcore.runs.store import CHECKED_MANIFEST, load_config, read_events, read_status, resolve_runs_dir
from tlcore.training.strategies import check_config, get_strategy

EXPERIMENT_FILE = "experiment.json"
MANIFEST_FILE = "manifest.json"
MAX_SEEDS = 5
ALL = 0  # the size "every training picture", kept as 0 in JSON (sizes are positive otherwise)
_LOCK = threading.RLock()  # one writer of experiment.json per process; pages and the CLI rewrite it whole


def experiments_dir() -> Path:
    path = paths.studio_home() / "experiments"
    path.mkdir(parents=True, exist_ok=True)
    return path


SOURCE = "@source"  # an arm's init_from that means "the experiment's source run, once it has finished"


@dataclass(frozen=True)
class Arm:
    """One way of training compared in an experiment: a strategy on a network, and any other settings."""

    label: str
    strategy: str
    backbone: str = "mobilenet_v2"
    overrides: dict = field(default_factory=dict)  # RunConfig fields of its own (head, init_from, target...)


def grid_arms(strategies: list[str], backbones: list[str]) -> list[Arm]:
    """Every strategy on every network, named in words ('Fine-tuning · EfficientNet-Lite0' when several)."""
    from tlcore.models.backbones import get_spec

    def label(strategy: str, backbone: str) -> str:
        words = get_strategy_or_refuse(strategy).title
        return f"{words} · {get_spec(backbone).title}" if len(backbones) > 1 else words
    return [Arm(label(s, b), s, b) for b in backbones for s in strategies]


@dataclass
class Cell:
    """One point of the grid and the run that answers it."""

    arm: str  # the arm's label
    strategy: str
    backbone: str
    per_class: int  # ALL (0): every training picture
    seed: int
    overrides: dict = field(default_factory=dict)
    run_id: str | None = None
    refused: str | None = None  # why no run could be made for it, in words
    earlier_runs: list[str] = field(default_factory=list)  # runs a restart interrupted, queued again since

    def config(self, base: dict, data: str, source_dir: str | None = None) -> RunConfig:
        """The cell's run: the shared settings, its arm's, its grid point, and its strategy's own epochs unless set."""
        epochs = self.overrides.get("epochs") or base.get("epochs") or get_strategy(self.strategy).default_epochs
        overrides = {k: (source_dir if v == SOURCE else v) for k, v in self.overrides.items() if k != "epochs"}
        return RunConfig(**{**base, **overrides, "data": data, "strategy": self.strategy, "backbone": self.backbone,
                            "seed": self.seed, "train_per_class": self.per_class or None, "epochs": epochs})


@dataclass
class Experiment:
    experiment_id: str
    folder: Path
    name: str
    data: str
    arms: list[str]  # labels, in order
    sizes: list[int]
    seeds: int
    base: dict  # RunConfig fields every run shares (epochs, image size, batch size...)
    cells: list[Cell]
    created_at: float
    notes: list[str] = field(default_factory=list)  # what the grid changed, in words (a size capped)
    lesson: str | None = None
    cancelled: bool = False
    dataset_label: str = ""
    source_run: str | None = None  # the run the arms with init_from SOURCE start from (its id), once it succeeds
    earlier_source_runs: list[str] = field(default_factory=list)  # source runs a restart interrupted
    # Who queues its runs: "runner" (the app's, which also resumes it) or "cli" (one process, run by run).
    driver: str = "runner"

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values.pop("folder")
        return values

    def save(self) -> None:
        with _LOCK:
            write_json_atomic(self.folder / EXPERIMENT_FILE, self.to_dict())

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_FILE


def plan_sizes(sizes: list[int], manifest: Manifest) -> tuple[list[int], list[str]]:
    """The sizes a dataset can give, in order, and what was changed, in words.

    A size larger than the smallest class's training pictures could not give every class as many:
    it is left out and "every picture" measured in its place; a size that takes every picture of
    every class is "every picture" already.
    """
    counts = {name: splits["train"] for name, splits in manifest.counts().items()}
    smallest_class, smallest = min(counts.items(), key=lambda item: item[1])
    largest = max(counts.values())
    sizes = [ALL if s >= largest else s for s in sizes]
    kept = sorted({s for s in sizes if s == ALL or s <= smallest}, key=lambda s: s or float("inf"))
    dropped = sorted(s for s in sizes if s != ALL and s > smallest)
    notes = []
    if dropped:
        if ALL not in kept:
            kept.append(ALL)
        words = ", ".join(map(str, dropped))
        notes.append(f"The smallest class, '{smallest_class}', has {smallest} training pictures, so {words} per class "
                     f"cannot be drawn from every class; the experiment measures every picture instead.")
    return kept, notes


def new_experiment(manifest: Manifest, *, arms: list[Arm], sizes: list[int], seeds: int, base: dict, name: str = "",
                   lesson: str | None = None, dataset_label: str = "", source_run: str | None = None,
                   driver: str = "runner") -> Experiment:
    """Check a grid and make its folder (no run yet). Raises ConfigError for a grid that cannot run at all.

    Args:
        manifest: the dataset as checked (the Data page's, or a scan's).
        arms: the ways of training compared (grid_arms for strategies x networks).
        base: RunConfig fields the runs share; the grid sets strategy, backbone, seed and size.
        source_run: a run the arms start from (init_from SOURCE), queued already; the cells wait for it.
        driver: "runner" (the app's runner queues and resumes it) or "cli" (run_here, in one process).
    """
    if not arms or not sizes:
        raise ConfigError("An experiment needs at least one strategy, one network and one size.")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"An experiment repeats each run 1 to {MAX_SEEDS} times (seeds), not {seeds}.")
    if any(s < 0 for s in sizes):
        raise ConfigError("Pictures per class must be positive numbers (or every picture).")
    for arm in arms:
        get_strategy_or_refuse(arm.strategy)
    base = {k: v for k, v in base.items() if k not in ("data", "strategy", "backbone", "seed", "train_per_class")}
    RunConfig(data=manifest.root, **base)  # the shared settings alone, refused before any folder is made
    if any(SOURCE in arm.overrides.values() for arm in arms) and not source_run:
        raise ConfigError("An arm starts from the experiment's source run, but the experiment has none.")
    # One validation draw for every run: the runs keep it as a given split, and the sizes are planned on it.
    fixed = dataclasses.replace(for_run(manifest, image_size=manifest.image_size,
                                        val_fraction=base.get("val_fraction", 0.2), seed=0), split_given=True)
    sizes, notes = plan_sizes(sizes, fixed)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    experiment_id = f"{stamp}-{secrets.token_hex(2)}"
    folder = experiments_dir() / experiment_id
    folder.mkdir(parents=True)
    fixed.save(folder / MANIFEST_FILE)
    cells = [Cell(arm.label, arm.strategy, arm.backbone, size, seed, dict(arm.overrides)) for arm in arms
             for size in sizes for seed in range(seeds)]
    experiment = Experiment(experiment_id, folder, name, manifest.root, [arm.label for arm in arms], sizes, seeds,
                            base, cells, time.time(), notes, lesson, dataset_label=dataset_label,
                            source_run=source_run, driver=driver)
    experiment.save()
    return experiment


def get_strategy_or_refuse(name: str):
    try:
        return get_strategy(name)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def load_experiment(folder: str | Path) -> Experiment:
    """An experiment from its folder. Raises OSError (missing) or ValueError (damaged)."""
    folder = Path(folder)
    values = read_json(folder / EXPERIMENT_FILE, default=None)
    if not isinstance(values, dict):
        raise ValueError(f"'{folder.name}' is not an experiment of the studio (no readable {EXPERIMENT_FILE}).")
    try:
        cells = [Cell(**cell) for cell in values.pop("cells")]
        return Experiment(folder=folder, cells=cells, **values)
    except (KeyError, TypeError) as error:
        raise ValueError(f"The experiment '{folder.name}' is damaged ({error}).") from None


def list_experiments() -> list[Experiment]:
    """Every readable experiment, newest first (a damaged one is left out)."""
    found = []
    for folder in experiments_dir().iterdir():
        try:
            found.append(load_experiment(folder))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda e: e.created_at, reverse=True)


Submit = Callable[[RunConfig, Manifest], str]  # queue a run (the runner's submit); returns its id


def start_cell(experiment: Experiment, cell: Cell, submit: Submit, manifest: Manifest,
               runs_dir: Path | None = None) -> str | None:
    """Make the cell's run through submit; a config the studio refuses is kept as the cell's reason."""
    try:
        source_dir = str(resolve_runs_dir(runs_dir) / experiment.source_run) if experiment.source_run else None
        config = cell.config({**experiment.base, "name": cell_name(experiment, cell),
                              "extra": {"experiment": experiment.experiment_id,
                                        "dataset": experiment.dataset_label}}, experiment.data, source_dir)
        check_config(config)
        cell.run_id = submit(config, manifest)
    except ConfigError as error:
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
    status = read_status(runs_dir / experiment.source_run)
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
    with _LOCK, open(experiment.folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            fresh = load_experiment(experiment.folder)
            yield fresh
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    experiment.cells, experiment.cancelled, experiment.source_run = fresh.cells, fresh.cancelled, fresh.source_run


def queue_experiment(experiment: Experiment, submit: Submit, runs_dir: str | Path | None = None) -> int:
    """Queue every cell that has no run yet (the page's Start; again after a crash mid-way); returns how many.
    Cells that start from the experiment's source run wait until it has succeeded."""
    runs_dir = resolve_runs_dir(runs_dir)
    with locked(experiment) as current:
        if current.cancelled:
            return 0
        source = source_state(current, runs_dir)
        ready = [cell for cell in current.cells if cell.run_id is None and cell.refused is None
                 and (not needs_source(cell) or source == "succeeded")]
        if ready:
            manifest = Manifest.load(current.manifest_path)
            for cell in ready:
                start_cell(current, cell, submit, manifest, runs_dir)
        elif source in ("failed", "cancelled"):
            current.save()  # the cells it refused
        return len(ready)


def cell_state(cell: Cell, runs_dir: Path) -> str:
    """'refused', 'waiting' (no run yet) or the run's own state."""
    if cell.refused:
        return "refused"
    if cell.run_id is None:
        return "waiting"
    return read_status(runs_dir / cell.run_id).get("state", "failed")


def resume_experiment(experiment: Experiment, submit: Submit, runs_dir: str | Path | None = None) -> int:
    """Queue again the runs a restart interrupted, and any cell not queued yet; returns how many."""
    runs_dir = resolve_runs_dir(runs_dir)
    with locked(experiment) as current:
        if current.cancelled:
            return 0
        changed = False
        if current.source_run and read_status(runs_dir / current.source_run).get("state") == "interrupted":
            source_dir = runs_dir / current.source_run
            current.earlier_source_runs.append(current.source_run)
            current.source_run = submit(load_config(source_dir), Manifest.load(source_dir / CHECKED_MANIFEST))
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


def cancel_experiment(experiment: Experiment, cancel: Callable[[str], None],
                      runs_dir: str | Path | None = None) -> None:
    """Stop the rest: no cell is queued any more, and its queued and running runs are cancelled."""
    with locked(experiment) as current:
        current.cancelled = True
        current.save()
    runs_dir = resolve_runs_dir(runs_dir)
    for cell in experiment.cells:
        if cell.run_id and cell_state(cell, runs_dir) in ("queued", "running"):
            cancel(cell.run_id)


def is_finished(experiment: Experiment, runs_dir: str | Path | None = None) -> bool:
    """Whether nothing more will happen: every cell ended or was refused. A run a restart interrupted is
    queued again unless the experiment was cancelled, so it is not an end."""
    runs_dir = resolve_runs_dir(runs_dir)
    ended = ("succeeded", "failed", "cancelled", "refused") + (("interrupted", "waiting") if experiment.cancelled else ())
    return all(cell_state(cell, runs_dir) in ended for cell in experiment.cells)


def results(experiment: Experiment, runs_dir: str | Path | None = None) -> list[dict]:
    """One row per cell: its grid point, state, accuracy, seconds, the reason it failed, per-class recall."""
    runs_dir = resolve_runs_dir(runs_dir)
    rows = []
    for cell in experiment.cells:
        row = {"arm": cell.arm, "strategy": cell.strategy, "backbone": cell.backbone, "per_class": cell.per_class,
               "seed": cell.seed,
               "run_id": cell.run_id, "state": cell_state(cell, runs_dir), "best_val_acc": None, "seconds": None,
               "error": cell.refused, "per_class_recall": {}, "target_acc": None}
        if cell.run_id:
            run_dir = runs_dir / cell.run_id
            status = read_status(run_dir)
            row.update(best_val_acc=status.get("best_val_acc"), seconds=status.get("wall_s"),
                       target_acc=status.get("best_target_acc"),
                       error=status.get("error") or row["error"])
            if row["state"] == "succeeded":
                row["per_class_recall"] = kept_recall(run_dir, status)
        rows.append(row)
    return rows


def kept_recall(run_dir: Path, status: dict) -> dict[str, float]:
    """Per-class recall of the epoch whose model the run kept."""
    events = read_events(run_dir)[0]
    classes = next((e["classes"] for e in events if e.get("type") == "dataset"), [])
    kept = next((e for e in reversed(events) if e.get("type") == "epoch" and e["epoch"] == status.get("best_epoch")),
                None)
    if kept is None or len(classes) != len(kept["per_class"]["recall"]):
        return {}
    return dict(zip(classes, kept["per_class"]["recall"]))


def training_pictures(experiment: Experiment) -> dict[int, int]:
    """Size -> training pictures per class it means (ALL: the largest class's count), for plots' axes."""
    manifest = Manifest.load(experiment.manifest_path)
    most = max(splits["train"] for splits in manifest.counts().values())
    return {size: (size or most) for size in experiment.sizes}


def run_here(experiment: Experiment, execute: Callable[[Path], dict], runs_dir: str | Path | None = None,
             on_run: Callable[[Cell, dict], None] = lambda *_: None) -> None:
    """Run the cells one after another in this process (the CLI, an experiment made with driver "cli"),
    each made just before it trains, so a server's runner never takes them from the queue; a failed run
    does not stop the rest."""
    runs_dir = resolve_runs_dir(runs_dir)
    manifest = Manifest.load(experiment.manifest_path)
    for cell in experiment.cells:
        if cell.run_id is not None or cell.refused is not None:
            continue
        run_id = start_cell(experiment, cell,
                            lambda config, checked: create_run(config, runs_dir, checked, claimed_by=os.getpid()).name,
                            manifest, runs_dir)
        status = execute(runs_dir / run_id) if run_id else {"state": "refused", "error": cell.refused}
        on_run(cell, status)
        if status.get("state") == "cancelled":  # Ctrl-C: the person stops the experiment, not one run
            experiment.cancelled = True
            experiment.save()
            return

"""Experiments: a grid of ordinary runs over one dataset, all measured on one fixed validation set.

An experiment is a folder (experiments/<id>/) holding its definition and its cells (experiment.json:
the grid, the settings its runs share, and per cell the run that answers it). Its runs are ordinary
runs; progress and results are read from them, so the run folders stay the only channel between
workers and pages. Queueing, resuming and cancelling those runs is queue.py's job.

The validation pictures are drawn once, with seed 0, when the experiment is made; every run trains
on that split (marked as given), each size drawing its training pictures per class with its seed.
Feature-extraction runs of every size and seed therefore share one feature pass per network.
"""
from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tlcore import paths
from tlcore.config import ConfigError, RunConfig
from tlcore.errors import DamagedFile
from tlcore.data.manifest import Manifest
from tlcore.data.scan import for_run
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.person import LOCAL, NotVisible, Person, may_see
from tlcore.runs.store.folder import RunFolder, resolve_runs_dir

EXPERIMENT_FILE = "experiment.json"
MANIFEST_FILE = "manifest.json"
MAX_SEEDS = 5
ALL = 0  # the size "every training picture", kept as 0 in JSON (sizes are positive otherwise)
WRITE_LOCK = threading.RLock()  # one writer of experiment.json per process; pages and the CLI rewrite it whole


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
    backbone: str = RunConfig.backbone
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
        epochs = (self.overrides.get("epochs") or base.get("epochs")
                  or get_strategy_or_refuse(self.strategy).default_epochs)
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
    # For an automatic choice ("best model in N minutes"): its budget, each candidate's estimated
    # seconds and the candidates left out for time, in words (tlcore.report.auto_choice).
    auto: dict | None = None
    owner: str = LOCAL.key  # the key of the person it was made for (tlcore.people.person.Person.key)

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values.pop("folder")
        return values

    def save(self) -> None:
        with WRITE_LOCK:
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
                   driver: str = "runner", auto: dict | None = None, owner: Person = LOCAL) -> Experiment:
    """Check a grid and make its folder (no run yet). Raises ConfigError for a grid that cannot run at all.

    Args:
        manifest: the dataset as checked (the Data page's, or a scan's).
        arms: the ways of training compared (grid_arms for strategies x networks).
        base: RunConfig fields the runs share; the grid sets strategy, backbone, seed and size.
        source_run: a run the arms start from (init_from SOURCE), queued already; the cells wait for it.
        driver: "runner" (the app's runner queues and resumes it) or "cli" (run_here, in one process).
        auto: an automatic choice's plan (tlcore.report.auto_choice), kept with the experiment.
        owner: the person it is made for; its runs are theirs, made under the class's rules for them.
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
                            source_run=source_run, driver=driver, auto=auto, owner=owner.key)
    experiment.save()
    return experiment


def get_strategy_or_refuse(name: str):
    # Imported here: the strategy registry brings torch, which the pages that list experiments do without.
    from tlcore.training.strategies import get_strategy

    try:
        return get_strategy(name)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def load_experiment(folder: str | Path) -> Experiment:
    """An experiment from its folder. Raises DamagedFile (missing or damaged)."""
    folder = Path(folder)
    values = read_json(folder / EXPERIMENT_FILE, default=None)
    if not isinstance(values, dict):
        raise DamagedFile(f"'{folder.name}' is not an experiment of the studio (no readable {EXPERIMENT_FILE}).")
    try:
        cells = [Cell(**cell) for cell in values.pop("cells")]
        return Experiment(folder=folder, cells=cells, **values)
    except (KeyError, TypeError) as error:
        raise DamagedFile(f"The experiment '{folder.name}' is damaged ({error}).") from None


def list_experiments(person: Person | None = None) -> list[Experiment]:
    """Every readable experiment (or those this person may see), newest first; a damaged one is left out."""
    found = []
    for folder in experiments_dir().iterdir():
        try:
            experiment = load_experiment(folder)
        except (OSError, ValueError):
            continue
        if person is None or may_see(person, experiment.owner):
            found.append(experiment)
    return sorted(found, key=lambda e: e.created_at, reverse=True)


def open_experiment(experiment_id: str, person: Person = LOCAL) -> Experiment:
    """The experiment of this id, when this person may see it; NotVisible otherwise (as if there were none)."""
    folder = experiments_dir() / str(experiment_id)
    try:
        if experiment_id and not str(experiment_id).startswith(".") and "/" not in experiment_id:
            experiment = load_experiment(folder)
            if may_see(person, experiment.owner):
                return experiment
    except (OSError, ValueError):
        pass
    raise NotVisible(f"There is no experiment '{experiment_id}' that you can open.")


def cell_state(cell: Cell, runs_dir: Path) -> str:
    """'refused', 'waiting' (no run yet) or the run's own state."""
    if cell.refused:
        return "refused"
    if cell.run_id is None:
        return "waiting"
    return RunFolder(runs_dir / cell.run_id).read_status().get("state", "failed")


def is_finished(experiment: Experiment, runs_dir: str | Path | None = None) -> bool:
    """Whether nothing more will happen: every cell ended or was refused. A run a restart interrupted is
    queued again unless the experiment was cancelled, so it is not an end."""
    runs_dir = resolve_runs_dir(runs_dir)
    return all(cell_state(cell, runs_dir) in ended_states(experiment) for cell in experiment.cells)


def ended_states(experiment: Experiment) -> tuple[str, ...]:
    """The cell states after which nothing more happens to a cell of this experiment."""
    return ("succeeded", "failed", "cancelled", "refused") + (("interrupted", "waiting") if experiment.cancelled else ())


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
            status = RunFolder(run_dir).read_status()
            row.update(best_val_acc=status.get("best_val_acc"), seconds=status.get("wall_s"),
                       target_acc=status.get("best_target_acc"),
                       error=status.get("error") or row["error"])
            if row["state"] == "succeeded":
                row["per_class_recall"] = kept_recall(run_dir, status)
        rows.append(row)
    return rows


def kept_recall(run_dir: Path, status: dict) -> dict[str, float]:
    """Per-class recall of the epoch whose model the run kept."""
    events = RunFolder(run_dir).read_events()[0]
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

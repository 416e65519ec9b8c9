"""The runs table: every run folder read once into a summary, with the names people gave them."""
from dataclasses import dataclass
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.runs.notes import RunNotes, dataset_name, load_notes
from tlcore.runs.store import load_config, read_status, resolve_runs_dir


@dataclass
class RunSummary:
    """One line of the runs table."""

    run_id: str
    run_dir: Path
    config: RunConfig | None
    status: dict
    notes: RunNotes | None = None  # the person's name, note and star (tlcore.runs.notes)
    repeat: int = 1  # its place among runs of the same dataset and strategy, oldest first

    @property
    def state(self) -> str:
        return self.status.get("state", "failed")

    @property
    def created_at(self) -> float:
        return self.status.get("created_at", 0.0)  # always a number: read_status drops any other type


def list_runs(runs_dir: str | Path | None = None, with_notes: bool = True) -> list[RunSummary]:
    """All runs, newest first. A folder without a readable config is listed as failed, not hidden.

    Args:
        with_notes: also read each run's notes and number repeated names, for pages that show
            names; the runner, which looks twice a second, needs neither.
    """
    runs = []
    for run_dir in resolve_runs_dir(runs_dir).iterdir():
        if not run_dir.is_dir() or run_dir.name.startswith("."):
            continue
        try:
            config = load_config(run_dir)
        except (OSError, ValueError, TypeError, RecursionError):  # ConfigError is a ValueError
            config = None
        notes = load_notes(run_dir) if with_notes else None
        runs.append(RunSummary(run_dir.name, run_dir, config, read_status(run_dir), notes))
    if with_notes:
        number_repeats(runs)
    return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)


def number_repeats(summaries: list[RunSummary]) -> None:
    """Number runs that share a dataset and strategy (and so a default name), oldest first.

    Sets each summary's ``repeat``: 1 for the first such run, 2 for the next, ... A new run never
    changes the number of an older one; deleting one renumbers those after it.
    """
    seen: dict[tuple[str, str], int] = {}
    for summary in sorted(summaries, key=lambda s: (s.created_at, s.run_id)):
        if summary.config is None:
            continue
        key = (dataset_name(summary.config), summary.config.strategy)
        seen[key] = seen.get(key, 0) + 1
        summary.repeat = seen[key]

"""The runs table: every run folder read once into a summary, with the names people gave them."""
from dataclasses import dataclass
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.people.person import Person, may_see
from tlcore.runs.store.notes import RunNotes, dataset_name, load_notes
from tlcore.runs.store.folder import FINAL_STATES, RunFolder, resolve_runs_dir
from tlcore.runs.store.owners import run_owner


@dataclass
class RunSummary:
    """One line of the runs table."""

    run_id: str
    run_dir: Path
    config: RunConfig | None
    status: dict
    notes: RunNotes | None = None  # the person's name, note and star (tlcore.runs.store.notes)
    repeat: int = 1  # its place among runs of the same dataset, strategy and head, oldest first
    owner: str = ""  # the key of the person it belongs to (tlcore.people.person.Person.key)
    shared: bool = False  # the teacher shared it with the class

    @property
    def state(self) -> str:
        return self.status.get("state", "failed")

    @property
    def created_at(self) -> float:
        return self.status.get("created_at", 0.0)  # always a number: read_status drops any other type


def list_runs(runs_dir: str | Path | None = None, with_notes: bool = True,
              person: Person | None = None) -> list[RunSummary]:
    """All runs, newest first. A folder without a readable config is listed as failed, not hidden.

    Args:
        person: list only the runs this person may see (class mode); None lists every run (the
            runner, and single-user mode's one person).
        with_notes: give each run its notes and number repeated names, for pages that show names;
            the runner, which looks twice a second, needs neither (the notes are read either way,
            once: what is remembered serves every caller).
    """
    runs_dir = resolve_runs_dir(runs_dir)
    before = _remembered.get(runs_dir, {})
    now = {}
    runs = []
    for run_dir in runs_dir.iterdir():
        if not run_dir.is_dir() or run_dir.name.startswith("."):
            continue
        config, status, notes, owner, _ = now[run_dir.name] = _read_run(run_dir, before.get(run_dir.name))
        if person is not None and not may_see(person, *owner):
            continue
        runs.append(RunSummary(run_dir.name, run_dir, config, dict(status), notes if with_notes else None,
                               owner=owner[0], shared=owner[1]))
    _remembered[runs_dir] = now  # runs deleted since are forgotten
    if with_notes:
        number_repeats(runs)
    return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)


# What list_runs read of each run, while its files stay as they were: the Runs page and the sidebar list
# every run on every rerun, and the runner twice a second; with 200 runs, reading and checking their
# 600 small files took a quarter of a second each time (bench/ui_scale.py). Files are written whole and
# renamed into place, so any write changes a file's inode, size or time, and one stat per file says
# whether what was read still holds. A run still queued or running has its status read every time.
_remembered: dict[Path, dict[str, tuple]] = {}


def _read_run(run_dir: Path, remembered: tuple | None) -> tuple:
    """(config, status, notes, (owner, shared), identity of the files read): from memory where the files
    are unchanged."""
    identity = tuple(_file_identity(run_dir / name)
                     for name in (RunFolder.CONFIG, RunFolder.STATUS, RunFolder.NOTES, RunFolder.OWNER))
    if remembered is not None and remembered[4] == identity:
        return remembered
    try:
        config = RunFolder(run_dir).load_config()
    except (OSError, ValueError, TypeError, RecursionError):  # ConfigError is a ValueError
        config = None
    status = RunFolder(run_dir).read_status()
    notes = load_notes(run_dir)  # read whether shown or not: what is remembered serves every caller
    owner = run_owner(run_dir)
    if identity[1] is None or "damaged" in status or status.get("state") not in FINAL_STATES:
        identity = None  # a status rebuilt from events, or one about to change: read again next time
    return config, status, notes, owner, identity


def _file_identity(path: Path) -> tuple | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns


def number_repeats(summaries: list[RunSummary]) -> None:
    """Number runs that share a dataset, strategy and head (and so a default name), oldest first.

    Sets each summary's ``repeat``: 1 for the first such run, 2 for the next, ... A new run never
    changes the number of an older one; deleting one renumbers those after it.
    """
    seen: dict[tuple[str, str, str], int] = {}
    for summary in sorted(summaries, key=lambda s: (s.created_at, s.run_id)):
        if summary.config is None:
            continue
        key = (dataset_name(summary.config), summary.config.strategy, summary.config.head)
        seen[key] = seen.get(key, 0) + 1
        summary.repeat = seen[key]

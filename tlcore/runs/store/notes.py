"""What a person keeps about a run after it was asked for: its name, a note, a star; and deleting it.

config.json stays as it was written (what was asked). What the person changes later lives beside
it in notes.json, written atomically and read defensively: a damaged or foreign file reads as no
notes, never as an error. Deleting removes the whole run folder, but only a finished one inside
the runs folder: a worker still writing into a folder must never have it pulled away.
"""
from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.errors import InputError
from tlcore.people.person import LOCAL, Person
from tlcore.runs.store.folder import FINAL_STATES, RunFolder, resolve_runs_dir
from tlcore.runs.store.owners import check_may_change

MAX_NAME_CHARS = 80
MAX_NOTE_CHARS = 2000
DELETING_PREFIX = ".deleting-"  # hidden: list_runs skips dot-folders, so no half-deleted run is listed


class RunBusyError(InputError):
    """The run is queued or training: its worker may write into the folder at any moment."""


class NotARunError(ValueError):
    """The folder is not a run of this runs folder (outside it, a link, or hidden)."""


@dataclass(frozen=True)
class RunNotes:
    """What a person changed about a run: "" and False mean "not set"."""

    name: str = ""
    note: str = ""
    starred: bool = False


def load_notes(run_dir: Path) -> RunNotes:
    """A run's notes; a missing, damaged or wrongly typed file (or field) reads as not set."""
    raw = RunFolder(run_dir).read_json(RunFolder.NOTES)  # missing, unreadable, not a file, not JSON
    if not isinstance(raw, dict):
        return RunNotes()
    name, note, starred = raw.get("name"), raw.get("note"), raw.get("starred")
    return RunNotes(name=clean_name(name) if isinstance(name, str) else "",
                    note=clean_note(note) if isinstance(note, str) else "",
                    starred=starred if isinstance(starred, bool) else False)


def save_notes(run_dir: Path, notes: RunNotes) -> None:
    RunFolder(run_dir).write_json(RunFolder.NOTES, asdict(notes))


def clean_name(name: str) -> str:
    """One line, no surrounding spaces, at most MAX_NAME_CHARS; "" brings the default name back."""
    return " ".join(name.split())[:MAX_NAME_CHARS]


def clean_note(note: str) -> str:
    return note.strip()[:MAX_NOTE_CHARS]


def rename_run(run_dir: Path, name: str, person: Person = LOCAL) -> RunNotes:
    """Give the run a name of the person's own ("" goes back to the default name)."""
    check_may_change(person, run_dir, "rename")
    return _change(run_dir, name=clean_name(name))


def set_note(run_dir: Path, note: str, person: Person = LOCAL) -> RunNotes:
    check_may_change(person, run_dir, "write a note on")
    return _change(run_dir, note=clean_note(note))


def star_run(run_dir: Path, starred: bool = True, person: Person = LOCAL) -> RunNotes:
    check_may_change(person, run_dir, "star")
    return _change(run_dir, starred=bool(starred))


def change_notes(run_dir: Path, notes: RunNotes, person: Person = LOCAL) -> RunNotes:
    """Name, note and star at once (the Runs page's form), on a person's behalf."""
    check_may_change(person, run_dir, "change")
    return _change(run_dir, name=clean_name(notes.name), note=clean_note(notes.note), starred=bool(notes.starred))


def _change(run_dir: Path, **fields) -> RunNotes:
    notes = replace(load_notes(run_dir), **fields)
    save_notes(run_dir, notes)
    return notes


def delete_run(run_dir: Path, runs_dir: str | Path | None = None, person: Person = LOCAL) -> bool:
    """Remove a finished run's folder, files and all.

    The folder is first renamed to a hidden name in the same runs folder (one atomic step, so no
    reader lists half a run), then removed.

    Args:
        run_dir: the run's folder; it must sit directly in runs_dir.
        runs_dir: the runs folder (the studio's by default).
        person: who asks: their own run, or any run for the teacher (tlcore.runs.store.owners).

    Returns:
        True when it was deleted, False when it was already gone (another tab deleted it).

    Raises:
        NotARunError: run_dir is not a run folder of runs_dir.
        RunBusyError: the run is queued or running; cancel it first.
        NoSuchRun, NotYours: it is not this person's to delete.
    """
    runs_dir = resolve_runs_dir(runs_dir).resolve()
    run_dir = Path(run_dir)
    if (run_dir.name.startswith(".") or run_dir.name in ("", "..") or run_dir.is_symlink()
            or run_dir.parent.resolve() != runs_dir):
        raise NotARunError(f"'{run_dir}' is not a run folder of {runs_dir}; nothing was deleted.")
    if not run_dir.is_dir():
        return False
    check_may_change(person, run_dir, "delete")
    state = RunFolder(run_dir).read_status()["state"]
    if state not in FINAL_STATES:
        raise RunBusyError(f"This run is still {state}. Cancel it first, then delete it.")
    hidden = runs_dir / f"{DELETING_PREFIX}{run_dir.name}-{secrets.token_hex(2)}"
    try:
        os.rename(run_dir, hidden)
    except FileNotFoundError:
        return False
    shutil.rmtree(hidden)
    return True


def dataset_name(config: RunConfig) -> str:
    """The dataset's name as the person chose it, else its folder's name."""
    chosen = config.extra.get("dataset")
    return chosen if isinstance(chosen, str) and chosen else Path(config.data).name

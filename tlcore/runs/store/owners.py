"""Whose a run is, and the store's answer to "may this person see it, change it, cancel it".

Every run records its owner (owner.json: {"owner": person key, "shared": bool}); a run made before
owners existed, or in single-user mode, belongs to LOCAL. The rules are tlcore.people.person's:
a teacher sees and changes everything; a student sees their own runs and those the teacher shared,
and changes only their own. A run a person may not see is answered as if it did not exist, so an
address (`?run=ID`) or a guessed id tells a student nothing about another's work.
"""
from __future__ import annotations

from pathlib import Path

from tlcore.people.person import LOCAL, NotVisible, NotYours, Person, may_change, may_see
from tlcore.runs.store.folder import RunFolder, resolve_runs_dir


class NoSuchRun(NotVisible):
    """No run of that id that this person may see."""


def run_owner(run_dir: Path) -> tuple[str, bool]:
    """(owner's key, shared with the class); a missing or damaged owner.json reads as LOCAL's, unshared."""
    raw = RunFolder(run_dir).read_json(RunFolder.OWNER)
    if not isinstance(raw, dict) or not isinstance(raw.get("owner"), str):
        return LOCAL.key, False
    return raw["owner"], raw.get("shared") is True


def owner_record(person: Person) -> dict:
    return {"owner": person.key, "shared": False}


def may_see_run(person: Person, run_dir: Path) -> bool:
    owner, shared = run_owner(run_dir)
    return may_see(person, owner, shared)


def open_run(run_id: str, person: Person = LOCAL, runs_dir: str | Path | None = None) -> RunFolder:
    """The run folder of this id, when this person may see it.

    Raises:
        NoSuchRun: no such run here, an id that is no run folder's name, or another person's run.
    """
    runs_dir = resolve_runs_dir(runs_dir)
    run_dir = runs_dir / run_id
    if (not run_id or run_id.startswith(".") or "/" in run_id or "\\" in run_id or not run_dir.is_dir()
            or not may_see_run(person, run_dir)):
        raise NoSuchRun(f"There is no run '{run_id}' that you can open.")
    return RunFolder(run_dir)


def check_may_change(person: Person, run_dir: Path, action: str) -> None:
    """Raise unless this person may do `action` ("rename", "delete", "cancel"...) to the run.

    Raises:
        NoSuchRun: they may not even see it.
        NotYours: it is shared with them, to look at and train from only.
    """
    owner, shared = run_owner(run_dir)
    if not may_see(person, owner, shared):
        raise NoSuchRun(f"There is no run '{Path(run_dir).name}' that you can {action}.")
    if not may_change(person, owner):
        raise NotYours(f"This run was shared with the class to look at and train from; only the person who "
                       f"made it or the teacher can {action} it.")


def share_run(run_dir: Path, person: Person, shared: bool = True) -> None:
    """The teacher shares a run with the class (read-only to students), or takes it back."""
    if not person.is_teacher:
        raise NotYours("Only the teacher can share a run with the class.")
    owner, _ = run_owner(run_dir)
    RunFolder(run_dir).write_json(RunFolder.OWNER, {"owner": owner, "shared": bool(shared)})


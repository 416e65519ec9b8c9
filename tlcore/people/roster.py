"""Classes on disk: each a roster of its teacher and students, with the hashes of their join tokens.

    <studio home>/classes/<class>/roster.json   {"name", "created_at", "members": {name: member}}
    <studio home>/classes/<class>/join_cards.html   printable cards: name, link, QR code

A member is {"role", "token_sha256", "added_at"}; the teacher is the member named "teacher". A token
is made when its person is added, printed once (in the join link) and never stored. Rosters are
written whole and atomically, so a reader sees the old one or the new one.
"""
from __future__ import annotations

import time
import unicodedata
from pathlib import Path

from tlcore import paths
from tlcore.errors import InputError
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.person import STUDENT, TEACHER, NotYours, Person, teaches
from tlcore.people.tokens import new_token, token_hash

JOIN = "/?join="
TEACHER_NAME = "teacher"
MAX_NAME_CHARS = 40
ROSTER = "roster.json"


def classes_dir() -> Path:
    path = paths.studio_home() / "classes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_name(name: str, what: str) -> str:
    """A class's or a person's name: 1 to 40 letters, digits, spaces, '-', '_' or '.', not starting with '.'."""
    name = unicodedata.normalize("NFC", name.strip())
    allowed = all(c.isalnum() or c in " -_." for c in name)
    if not name or len(name) > MAX_NAME_CHARS or not allowed or name.startswith("."):
        raise InputError(f"'{name}' cannot be a {what} name: use 1 to {MAX_NAME_CHARS} letters, digits, spaces, "
                         "'-', '_' or '.', not starting with '.'.")
    return name


def create_class(name: str, students: list[str]) -> dict:
    """A new class with its teacher and students; returns the join links, shown this once.

    Returns:
        {"class": name, "teacher": "/?join=TOKEN", "students": {student: "/?join=TOKEN", ...}}

    Raises:
        InputError: a name is not usable, repeated, or the class exists already.
    """
    name = check_name(name, "class")
    folder = classes_dir() / name
    if (folder / ROSTER).exists():
        raise InputError(f"There is already a class called '{name}'; add students to it with "
                         f"`class add-students`, or choose another name.")
    folder.mkdir(exist_ok=True)
    roster = {"name": name, "created_at": time.time(), "members": {}}
    teacher = _add(roster, TEACHER_NAME, TEACHER)
    links = {student: _add(roster, student, STUDENT) for student in _new_names(roster, students)}
    _save(roster)
    return {"class": name, "teacher": JOIN + teacher, "students": {s: JOIN + t for s, t in links.items()}}


def add_students(name: str, students: list[str], by: Person | None = None) -> dict:
    """Add students to a class; returns {"class", "students": {student: join link}} for the new ones.

    by: who asks, from a page (NotYours unless the class's teacher); the command line is trusted."""
    if by is not None and not teaches(by, name):
        raise NotYours("Only the class's teacher can add students.")
    roster = load_roster(name)
    links = {student: _add(roster, student, STUDENT) for student in _new_names(roster, students)}
    _save(roster)
    return {"class": roster["name"], "students": {s: JOIN + t for s, t in links.items()}}


def remove_student(name: str, student: str) -> None:
    """Their join link stops working; what they made stays, the teacher's to see and delete."""
    roster = load_roster(name)
    member = roster["members"].get(student)
    if member is None or member["role"] != STUDENT:
        raise InputError(f"There is no student called '{student}' in class '{roster['name']}'.")
    del roster["members"][student]
    # The name stays taken: what they made is still theirs, and a new student by that name must not inherit it.
    roster.setdefault("removed", {})[student] = time.time()
    _save(roster)


def release_removed_names(name: str) -> None:
    """Removed students' names may be given again (their work was archived by a class reset)."""
    roster = load_roster(name)
    roster["removed"] = {}
    _save(roster)


def class_members(name: str) -> dict:
    """{"class", "created_at", "students": [names]}: the roster without its token hashes."""
    roster = load_roster(name)
    students = sorted(n for n, m in roster["members"].items() if m["role"] == STUDENT)
    return {"class": roster["name"], "created_at": roster["created_at"], "students": students}


def list_classes() -> list[str]:
    return sorted(folder.name for folder in classes_dir().iterdir() if _read(folder / ROSTER) is not None)


def roster_or_none(name: str) -> dict | None:
    """The class's roster; None for no such class (or a name no class can have)."""
    try:
        return _read(classes_dir() / check_name(name, "class") / ROSTER)
    except InputError:
        return None


def load_roster(name: str) -> dict:
    roster = _read(classes_dir() / check_name(name, "class") / ROSTER)
    if roster is None:
        known = ", ".join(list_classes()) or "none yet"
        raise InputError(f"There is no class called '{name}' (classes here: {known}).")
    return roster


def person_for_token(class_name: str, token: str) -> Person | None:
    """The person whose join token this is, in this class; None for any other token."""
    try:
        roster = load_roster(class_name)
    except InputError:
        return None
    wanted = token_hash(token)
    for member_name, member in roster["members"].items():
        if member["token_sha256"] == wanted:
            return Person(member_name, member["role"], roster["name"])
    return None


def find_person(class_name: str, name: str) -> Person:
    """A member by name (`--as alice`, `--as teacher`), for the CLI, which is trusted as the server is."""
    roster = load_roster(class_name)
    person = member_person(roster, name)
    if person is None:
        raise InputError(f"There is no one called '{name}' in class '{roster['name']}'.")
    return person


def member_person(roster: dict, name: str) -> Person | None:
    """The member of this name as a Person (their role as the roster says now); None for a non-member."""
    member = roster["members"].get(name)
    return None if member is None else Person(name, member["role"], roster["name"])


def _new_names(roster: dict, students: list[str]) -> list[str]:
    names = [check_name(s, "student") for s in students if s.strip()]
    taken = [n for n in names if n in roster["members"] or n == TEACHER_NAME]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if taken or repeated:
        raise InputError(f"These names are already in class '{roster['name']}' or given twice: "
                         f"{', '.join(sorted(set(taken)) + repeated)}; each student needs a name of their own.")
    former = sorted(n for n in names if n in roster.get("removed", {}))
    if former:
        raise InputError(f"{', '.join(former)} left class '{roster['name']}' and their work is still theirs; give "
                         f"the new student another name (such as {former[0]}2), or reset the class first to archive "
                         "that work.")
    return names


def _add(roster: dict, name: str, role: str) -> str:
    token = new_token()
    roster["members"][name] = {"role": role, "token_sha256": token_hash(token), "added_at": time.time()}
    return token


def _save(roster: dict) -> None:
    write_json_atomic(classes_dir() / roster["name"] / ROSTER, roster)


def _read(path: Path) -> dict | None:
    roster = read_json(path, default=None)
    members = roster.get("members") if isinstance(roster, dict) else None
    if not isinstance(members, dict) or not isinstance(roster.get("name"), str):
        return None
    if not all(isinstance(m, dict) and m.get("role") in (TEACHER, STUDENT) and isinstance(m.get("token_sha256"), str)
               for m in members.values()):
        return None
    if not isinstance(roster.get("removed", {}), dict):
        roster["removed"] = {}
    return roster

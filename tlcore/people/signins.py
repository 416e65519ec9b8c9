"""Signed-in browsers: a join link opened once signs that browser in, for the term (a student) or the day
(the teacher).

    <studio home>/classes/<class>/signins/<sha256 of the sign-in>.json   {"member", "signed_in_at"}

Opening a join link makes a sign-in: a new random value the browser keeps as a cookie, so a reload or
a new tab finds its person again without the link. The join token itself never leaves the link, and
the studio keeps only the sign-in's hash, as for tokens. A sign-in names a member of the roster;
its role is read from the roster each time, and a member removed from the class (even one added again
under the same name since), a sign-in past its age, or one ended from the command line (sign_out_all)
signs no one in any more.
"""
from __future__ import annotations

import time
from pathlib import Path

from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.person import Person
from tlcore.people.roster import classes_dir, member_person, roster_or_none
from tlcore.people.tokens import new_token, token_hash

SIGNINS = "signins"
MAX_AGE_S = 200 * 24 * 3600  # a student's: a school term and a half, the join card not needed again before then
TEACHER_MAX_AGE_S = 12 * 3600  # a teacher's: a school day, so a classroom computer left signed in is not for long


def max_age_s(person: Person) -> int:
    return TEACHER_MAX_AGE_S if person.is_teacher else MAX_AGE_S


def sign_in(person: Person) -> str:
    """A new sign-in for this member of a class; returns the value the browser keeps (shown nowhere)."""
    value = new_token()
    folder = _folder(person.class_name)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{token_hash(value)}.json", {"member": person.name, "signed_in_at": time.time()})
    return value


def signed_in_person(class_name: str, value: str, clock=time.time) -> Person | None:
    """The person this browser signed in as; None for an unknown, expired or withdrawn sign-in."""
    if not isinstance(value, str) or not value or not class_name:
        return None
    record = read_json(_folder(class_name) / f"{token_hash(value)}.json", default=None)
    if not isinstance(record, dict) or not isinstance(record.get("member"), str):
        return None
    signed_in_at = record.get("signed_in_at")
    roster = roster_or_none(class_name)
    if not isinstance(signed_in_at, (int, float)) or roster is None:
        return None
    member = roster["members"].get(record["member"])
    if member is None or member.get("added_at", 0) > signed_in_at:
        return None
    person = member_person(roster, record["member"])
    return person if clock() - signed_in_at <= max_age_s(person) else None


def sign_out(class_name: str, value: str) -> None:
    (_folder(class_name) / f"{token_hash(value)}.json").unlink(missing_ok=True)


def sign_out_all(class_name: str, member: str | None = None) -> int:
    """End every sign-in of the class, or of one member (a computer left signed in); returns how many."""
    ended = 0
    for path in _folder(class_name).glob("*.json"):
        record = read_json(path, default=None)
        if member is None or (isinstance(record, dict) and record.get("member") == member):
            path.unlink(missing_ok=True)
            ended += 1
    return ended


def _folder(class_name: str) -> Path:
    return classes_dir() / class_name / SIGNINS

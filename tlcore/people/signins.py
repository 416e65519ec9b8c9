"""Signed-in browsers: a join link (or a school account) opened once signs that browser in for the term.

    <studio home>/classes/<class>/signins/<sha256 of the sign-in>.json   {"member", "signed_in_at"}

Opening a join link makes a sign-in: a new random value the browser keeps as a cookie, so a reload or
a new tab finds its person again without the link. The join token itself never leaves the link, and
the studio keeps only the sign-in's hash, as for tokens. A sign-in names a member of the roster;
its role is read from the roster each time, and a member removed from the class (even one added again
under the same name since), or a sign-in past its age, signs no one in any more.
"""
from __future__ import annotations

import time
from pathlib import Path

from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.person import Person
from tlcore.people.roster import classes_dir, load_roster, member_person
from tlcore.people.tokens import new_token, token_hash
from tlcore.errors import InputError

SIGNINS = "signins"
MAX_AGE_S = 200 * 24 * 3600  # a school term and a half: the join card is not needed again before then


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
    if not isinstance(signed_in_at, (int, float)) or clock() - signed_in_at > MAX_AGE_S:
        return None
    try:
        roster = load_roster(class_name)
    except InputError:  # the class was removed
        return None
    member = roster["members"].get(record["member"])
    if member is None or member.get("added_at", 0) > signed_in_at:
        return None
    return member_person(roster, record["member"])


def sign_out(class_name: str, value: str) -> None:
    (_folder(class_name) / f"{token_hash(value)}.json").unlink(missing_ok=True)


def _folder(class_name: str) -> Path:
    return classes_dir() / class_name / SIGNINS

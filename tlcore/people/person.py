"""Who is asking: a person, their class and their role, and what they may see and change.

The rules are here once, and the store applies them to everything a person owns (runs now; the
datasets, captures and exports follow the same two questions):

- a teacher sees and changes everything in the studio home;
- a student sees what they own and what the teacher shared with the class, and changes only what
  they own (a shared thing is read-only to them: they look at it and train from it).
"""
from __future__ import annotations

from dataclasses import dataclass

from tlcore.errors import InputError

TEACHER, STUDENT = "teacher", "student"
ROLES = (TEACHER, STUDENT)


@dataclass(frozen=True)
class Person:
    name: str
    role: str = STUDENT
    class_name: str = ""  # "" for the one person of single-user mode

    @property
    def is_teacher(self) -> bool:
        return self.role == TEACHER

    @property
    def key(self) -> str:
        """What their things record as owner: the name within its class, so two classes' "alice" differ."""
        return f"{self.class_name}/{self.name}" if self.class_name else self.name


LOCAL = Person("local", TEACHER)
"""The one person of single-user mode (`./studio run`), and the owner of anything made before owners."""


def may_see(person: Person, owner: str, shared: bool = False) -> bool:
    return person.is_teacher or owner == person.key or shared


def may_change(person: Person, owner: str) -> bool:
    return person.is_teacher or owner == person.key


class NotVisible(InputError):
    """Nothing of that name this person may see: said as if it did not exist, so it tells them nothing."""


class NotYours(InputError):
    """The person may see it (the teacher shared it) but not change it."""

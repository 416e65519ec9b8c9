"""Who is asking: a person, their class and their role, and what they may see and change.

The rules are here once, and the store applies them to everything a person owns (runs, datasets,
experiments, label corrections):

- the one person of single-user mode (LOCAL) sees and changes everything in the studio home;
- a teacher sees and changes everything of their own class, and what LOCAL made (the machine's own
  work, from before the class), never another class's;
- a student sees what they own and what their class's teacher shared with the class, and changes
  only what they own (a shared thing is read-only to them: they look at it and train from it).
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
    return may_change(person, owner) or (shared and in_class(person, owner))


def may_change(person: Person, owner: str) -> bool:
    if owner == person.key or person == LOCAL:
        return True
    return person.is_teacher and (in_class(person, owner) or owner == LOCAL.key)


def in_class(person: Person, owner: str) -> bool:
    """Whether the owner's key is a member of the person's class (never, for single-user mode's person)."""
    return bool(person.class_name) and owner.startswith(f"{person.class_name}/")


def teaches(person: Person, class_name: str) -> bool:
    """Whether the person is this class's teacher (or single-user mode's person, who may do everything)."""
    return person == LOCAL or (person.is_teacher and person.class_name == class_name)


def owner_name(key: str) -> str:
    """The person's name in an owner's key ("Year 9/alice" -> "alice")."""
    return key.rpartition("/")[2]


class NotVisible(InputError):
    """Nothing of that name this person may see: said as if it did not exist, so it tells them nothing."""


class NotYours(InputError):
    """The person may see it (the teacher shared it) but not change it."""

"""What the teacher allows in a class: a student's runs waiting and disk for uploads, and a lesson's locks.

    <studio home>/classes/<class>/rules.json

The store checks them when a student's run is made (tlcore.runs.store.creation), so a page, an
address or the command line meets the same refusal, in words that say which rule and how to get
past it. The teacher's own runs are not limited.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tlcore.config import RunConfig
from tlcore.errors import InputError
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.person import NotYours, Person
from tlcore.people.roster import classes_dir, load_roster

RULES = "rules.json"


@dataclass(frozen=True)
class ClassRules:
    max_waiting: int = 5  # a student's runs queued at once
    max_epochs: int | None = None  # None: as the studio allows
    max_image_size: int | None = None
    strategies: tuple[str, ...] = ()  # () : every way of training
    backbones: tuple[str, ...] = ()  # () : every network
    max_upload_mb: int | None = None  # a student's uploaded and camera pictures together


class RuleRefusal(InputError):
    """A student's run that one of the class's rules does not allow."""


class TooManyWaiting(RuleRefusal):
    """The student has as many runs waiting as the teacher allows: this run may be made once one starts."""


def load_rules(class_name: str) -> ClassRules:
    """The class's rules; a missing or damaged file gives the defaults, a wrongly typed field its default."""
    raw = read_json(classes_dir() / class_name / RULES, default=None)
    if not isinstance(raw, dict):
        return ClassRules()
    defaults = ClassRules()
    values = {}
    for field in fields(ClassRules):
        value = raw.get(field.name, getattr(defaults, field.name))
        if field.name in ("strategies", "backbones"):
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            values[field.name] = tuple(value) if ok else ()
        else:
            whole = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            ok = whole or (value is None and field.name != "max_waiting")
            values[field.name] = value if ok else getattr(defaults, field.name)
    return ClassRules(**values)


def save_rules(class_name: str, rules: ClassRules, person: Person) -> ClassRules:
    if not person.is_teacher:
        raise NotYours("Only the teacher can set the class's rules.")
    roster = load_roster(class_name)
    write_json_atomic(classes_dir() / roster["name"] / RULES, asdict(rules))
    return rules


def check_run_allowed(rules: ClassRules, config: RunConfig, waiting: int) -> None:
    """Raise RuleRefusal naming the first rule a student's new run breaks.

    Args:
        waiting: the student's runs already queued.
    """
    if waiting >= rules.max_waiting:
        raise TooManyWaiting(f"You have {waiting} runs waiting, the most your teacher allows; cancel one or wait "
                          "until one starts, then try again.")
    if rules.strategies and config.strategy not in rules.strategies:
        raise RuleRefusal(f"For this lesson your teacher allows these ways of training: "
                          f"{', '.join(rules.strategies)}; choose one of them.")
    if rules.backbones and config.backbone not in rules.backbones:
        raise RuleRefusal(f"For this lesson your teacher allows these networks: {', '.join(rules.backbones)}; "
                          "choose one of them.")
    if rules.max_epochs is not None and config.epochs > rules.max_epochs:
        raise RuleRefusal(f"{config.epochs} epochs is more than this lesson allows ({rules.max_epochs}); "
                          "choose fewer.")
    if rules.max_image_size is not None and config.image_size > rules.max_image_size:
        raise RuleRefusal(f"Pictures of {config.image_size} pixels are larger than this lesson allows "
                          f"({rules.max_image_size}); choose a smaller size.")

"""What a run folder's status and event records must look like, so no reader trusts a damaged one.

A run folder is written by the studio, but it lives on a disk that fills up, next to editors,
sync tools and scripts. Every reader (the runner, the run store, the pages) takes status.json and
events.jsonl through these checks: a status field of the wrong type is dropped, an event whose
fields are not what its type promises is left out, and nothing downstream needs to guess.
"""
from __future__ import annotations

import math
import types
import typing
from numbers import Real

NUMBER = "number"  # a finite number (JSON as Python writes it allows Infinity and NaN)
TIMESTAMP = "timestamp"  # seconds since 1970, up to the year 3000: what time.localtime can show
PID = "pid"  # a process id: a positive number below 2**22 (Linux's ceiling); 0 and -1 mean groups
_LATEST_TIMESTAMP = 32_503_680_000.0
_MAX_PID = 2**22

# status.json: field -> expected kind. Fields not listed are kept as they are (readers .get them).
STATUS_FIELDS = {
    "created_at": TIMESTAMP, "started_at": TIMESTAMP, "heartbeat_at": TIMESTAMP, "progress_at": TIMESTAMP,
    "ended_at": TIMESTAMP, "wall_s": NUMBER, "pid": PID, "error": (str, type(None)),
    "best_val_acc": NUMBER, "final_val_acc": NUMBER, "best_epoch": int, "epochs_run": int,
    "stopped_early": bool, "balanced": bool, "train_images_per_s": NUMBER, "progress": dict,
    "stage": (dict, type(None)),
    "device": dict, "timings": dict, "best_phase": str, "body_distance": NUMBER, "final_body_distance": NUMBER,
    "best_target_acc": NUMBER, "final_target_acc": NUMBER,
    "meta_episodes": int, "meta_first_acc": NUMBER, "meta_last_acc": NUMBER,
    "worker_tag": (str, type(None)), "error_kind": (str, type(None)),
    "temperature": NUMBER, "ece_before": NUMBER, "ece_after": NUMBER,
}

# events.jsonl: type -> the fields that type must carry, with their kinds.
EVENT_FIELDS = {
    "dataset": {"classes": list},
    "batch": {"epoch": int, "step": int, "steps": int, "loss": NUMBER, "phase": str},
    "epoch": {"epoch": int, "phase": str, "train_loss": NUMBER, "train_acc": NUMBER,
              "val_loss": NUMBER, "val_acc": NUMBER, "confusion": list, "per_class": dict},
    "fit_end": {"best_epoch": int},
    "meta": {"episode": int, "episodes": int, "query_acc": NUMBER, "recent_query_acc": NUMBER, "loss": NUMBER},
    "end": {"state": str},
}
# Fields an event may carry; when it does, they must be of these kinds.
EVENT_OPTIONAL_FIELDS = {
    "epoch": {"target_loss": NUMBER, "target_acc": NUMBER, "target_confusion": list, "target_per_class": dict,
              "domain_loss": NUMBER, "domain_acc": NUMBER, "domain_lambda": NUMBER, "penalty": NUMBER,
              "joint_loss": NUMBER, "joint_acc": NUMBER,
              "l2": NUMBER, "l2_scores": dict},  # a solved head's chosen L2 strength and each tried one's score
}
PER_CLASS_KEYS = ("precision", "recall", "f1", "support")


def fits(value, kind) -> bool:
    """Whether value is of the kind: a type, a tuple of types, NUMBER, TIMESTAMP or PID.

    A bool is not a number here, nor an int where an int is asked for by a field that counts.
    """
    if kind == NUMBER:
        return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if kind == TIMESTAMP:
        return fits(value, NUMBER) and 0 <= value <= _LATEST_TIMESTAMP
    if kind == PID:
        return fits(value, int) and 0 < value < _MAX_PID
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def clean_status(value, states: tuple[str, ...]) -> dict | None:
    """A status dict with every wrongly typed field dropped; None when it is not a status at all.

    Args:
        value: what status.json held.
        states: the run states a status may name.
    """
    if not isinstance(value, dict) or value.get("state") not in states:
        return None
    return {key: field for key, field in value.items()
            if key not in STATUS_FIELDS or fits(field, STATUS_FIELDS[key])}


def is_valid_event(event) -> bool:
    """Whether an event line is an object whose type's fields have the kinds readers rely on."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return False
    required = EVENT_FIELDS.get(event["type"], {})
    if not all(fits(event.get(name), kind) for name, kind in required.items()):
        return False
    optional = EVENT_OPTIONAL_FIELDS.get(event["type"], {})
    if not all(fits(event[name], kind) for name, kind in optional.items() if name in event):
        return False
    if event["type"] == "epoch":
        size = len(event["confusion"])
        if "target_confusion" in event and not (len(event["target_confusion"]) == size
                                                and _is_confusion(event["target_confusion"])):
            return False
        if "target_per_class" in event and not _is_per_class(event["target_per_class"], size):
            return False
        return _is_confusion(event["confusion"]) and _is_per_class(event["per_class"], size)
    if event["type"] == "dataset":
        return all(isinstance(name, str) for name in event["classes"])
    return True


def _is_confusion(matrix) -> bool:
    size = len(matrix)
    return size > 0 and all(isinstance(row, list) and len(row) == size and all(fits(c, int) for c in row)
                            for row in matrix)


def _is_per_class(scores: dict, size: int) -> bool:
    return all(isinstance(scores.get(key), list) and len(scores[key]) == size
               and all(fits(v, NUMBER) for v in scores[key]) for key in PER_CLASS_KEYS)


def matches_annotation(value, annotation) -> bool:
    """Whether a JSON value fits a field's annotation: its type, or one of a union's (``str | None``);
    a generic (``list[str]``) by its container only. An int is a float; a bool is no number."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    allowed = typing.get_args(annotation) if union else (annotation,)
    if isinstance(value, bool):
        return bool in allowed
    if float in allowed and isinstance(value, int):
        return True
    return isinstance(value, tuple(typing.get_origin(t) or t for t in allowed))

"""How much a student may still upload: the class's rule against what their datasets take already.

Uploads, zips and camera pictures are studio copies kept in the data folder; each student's count
is the size of the copies behind their own datasets. The teacher and single-user mode have no
allowance beyond the studio's own limits (tlcore.limits).
"""
from __future__ import annotations

from pathlib import Path

from tlcore.data.datasets import list_datasets
from tlcore.data.uploads import Allowance, folder_bytes
from tlcore.people.class_rules import load_rules
from tlcore.people.person import Person

MB = 1024**2
UPLOADED = ("upload", "zip", "camera")  # the kinds a person brings; built-in sets are shared and not counted


def upload_allowance(person: Person) -> Allowance | None:
    """What this person may still upload, with the words that refuse more; None without a limit."""
    if not person.class_name or person.is_teacher:
        return None
    limit = load_rules(person.class_name).max_upload_mb
    if limit is None:
        return None
    used = uploaded_bytes(person)
    refusal = (f"Your teacher allows each student {limit} MB of pictures uploaded or taken with the camera, and "
               f"yours take {used / MB:,.1f} MB already, so this upload was refused. Delete one of your datasets on "
               "the Data page to make room, or ask your teacher for more.")
    return Allowance(max(limit * MB - used, 0), refusal)


def uploaded_bytes(person: Person) -> int:
    """The bytes of the studio's copies behind this person's own datasets."""
    own = {record.source for record in list_datasets(person)
           if record.owner == person.key and record.studio_copy and record.kind in UPLOADED}
    return sum(folder_bytes(Path(source)) for source in own if Path(source).is_dir())

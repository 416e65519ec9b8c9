"""The dataset types: a scanned dataset's manifest, its samples, skipped files and refusals."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tlcore.config import DEFAULT_IMAGE_SIZE
from tlcore.errors import InputError
from tlcore.jsonio import load_json, write_json_atomic

# The size of pictures in a manifest written before manifests recorded it: they were checked at 224 px.
UNRECORDED_IMAGE_SIZE = 224

JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "__macosx", ".ipynb_checkpoints",
                        "__pycache__"})


class DataError(InputError):
    """A dataset the studio refuses; ``str(error)`` is one sentence naming the problem.

    ``skipped`` carries the files that were set aside before the refusal, so the UI can show why.
    """

    def __init__(self, message: str, skipped: list[Skipped] | None = None):
        super().__init__(message)
        self.skipped = skipped or []


PICTURES_CHANGED = "pictures_changed"  # a failed run's error_kind when this was the cause


class PicturesChanged(InputError):
    """Pictures deleted, damaged or rewritten since their dataset was checked; ``changed`` holds
    (path, what happened) for each."""

    def __init__(self, changed: list[tuple[str, str]]):
        listed = "; ".join(f"'{_last_two(path)}' ({what})" for path, what in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        super().__init__(f"{len(changed)} picture{'s' * (len(changed) != 1)} changed since the dataset was "
                         f"checked: {listed}{more}. Check the dataset again on the Data page (\"Check again\" in Your "
                         "datasets, by whoever added it: pictures that cannot be read are then left out), and "
                         "train again.")
        self.changed = changed


def _last_two(path: str) -> str:
    """A picture's class folder and name, which is how people find it."""
    return Path(path).parent.name + "/" + Path(path).name


@dataclass
class Sample:
    path: str  # absolute path
    label: int
    split: str  # "train" | "val" | "test"
    key: str  # content key in the image cache


@dataclass
class Skipped:
    path: str  # relative to the dataset root (or the entry name inside a zip)
    reason: str


@dataclass
class Manifest:
    root: str
    classes: list[str]
    samples: list[Sample]
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    split_given: bool = False
    image_size: int = DEFAULT_IMAGE_SIZE

    def split(self, name: str) -> list[Sample]:
        """The samples of one split, in manifest order."""
        return [sample for sample in self.samples if sample.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """Class name -> split -> number of images (train and val always, test when present)."""
        has_test = any(s.split == "test" for s in self.samples)
        splits = ["train", "val", "test"] if has_test else ["train", "val"]
        table = {name: dict.fromkeys(splits, 0) for name in self.classes}
        for sample in self.samples:
            table[self.classes[sample.label]][sample.split] += 1
        return table

    def fingerprint(self) -> str:
        """A hash of what training sees (contents, labels, splits, classes, size), not of paths."""
        rows = sorted((s.key, s.label, s.split) for s in self.samples)
        payload = json.dumps({"classes": self.classes, "image_size": self.image_size, "rows": rows})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        """Rebuild a manifest from ``to_dict`` output."""
        return cls(root=str(d["root"]), classes=list(d["classes"]),
                   samples=[Sample(**s) for s in d["samples"]],
                   skipped=[Skipped(**s) for s in d.get("skipped", [])],
                   warnings=list(d.get("warnings", [])), split_given=bool(d.get("split_given")),
                   image_size=int(d.get("image_size", UNRECORDED_IMAGE_SIZE)))

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON atomically, creating the folder if needed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Manifest:
        """Read a manifest written by ``save``."""
        return cls.from_dict(load_json(path))


@dataclass
class TargetSet:
    """Pictures from where the model will be used: a label (the training class's index) where their
    folder names a training class, -1 where it does not or where they are loose files."""

    root: str
    samples: list[Sample]
    skipped: list[Skipped] = field(default_factory=list)
    unknown_classes: list[str] = field(default_factory=list)  # folders the training classes lack
    image_size: int = DEFAULT_IMAGE_SIZE

    @property
    def labelled(self) -> list[Sample]:
        return [sample for sample in self.samples if sample.label >= 0]

    def keys(self) -> set[str]:
        return {sample.key for sample in self.samples}

    def copies_training_pictures(self, manifest: Manifest) -> bool:
        """Whether every target picture is also one of the dataset's: the training pictures again."""
        return self.keys() <= {sample.key for sample in manifest.samples}

    def fingerprint(self) -> str:
        """A hash of the pictures (not their labels: the features do not depend on them) and size."""
        payload = json.dumps({"image_size": self.image_size, "keys": sorted(self.keys())})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TargetSet:
        return cls(root=str(d["root"]), samples=[Sample(**s) for s in d["samples"]],
                   skipped=[Skipped(**s) for s in d.get("skipped", [])],
                   unknown_classes=list(d.get("unknown_classes", [])), image_size=int(d.get("image_size", UNRECORDED_IMAGE_SIZE)))


def is_clutter(name: str) -> bool:
    """Whether a name is OS or tool clutter that is never data (.DS_Store, __MACOSX, ._photo.jpg),
    or the studio's own bookkeeping: left out without being listed, as nobody meant it as data."""
    lowered = name.lower()
    return lowered in JUNK_NAMES or lowered.startswith(("._", ".tlstudio"))


def is_junk(name: str) -> bool:
    """Whether a file or folder is left out: clutter, or hidden (its name starts with a dot)."""
    return name.startswith(".") or is_clutter(name)


def why_left_out(*parts: str, outcome: str = "not used") -> str | None:
    """Why a path whose parts include a hidden file or folder is left out, for the list of skipped
    files; None for clutter (left out silently) and for paths that are used.

    Args:
        parts: the path's components (one name, or every folder down to the file).
        outcome: what happens to it, in words ("not used", "not extracted", "not saved").
    """
    if any(part.startswith(".") and not is_clutter(part) for part in parts):
        return f"hidden (its name starts with a dot); {outcome}"
    return None

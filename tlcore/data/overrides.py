"""A person's corrections to a dataset's labels, kept beside the studio's record of it (overrides.json),
never in the pictures' folders: relabel a picture, leave one out, undo. Runs train on the dataset with
the corrections applied; the original files are never touched.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from tlcore.config import ConfigError
from tlcore.data.manifest import Manifest, Sample
from tlcore.jsonio import read_json, write_json_atomic

OVERRIDES_FILE = "overrides.json"
RELABEL, EXCLUDE = "relabel", "exclude"


@dataclass
class Overrides:
    """The corrections in the order they were made (the last one for a picture counts; undo drops it)."""

    changes: list[dict] = field(default_factory=list)  # {"key", "path", "action", "to": class or None}

    def relabel(self, sample: Sample, to: str, classes: list[str]) -> None:
        if to not in classes:
            raise ConfigError(f"There is no class '{to}' in this dataset; its classes are {', '.join(classes)}.")
        self.changes.append({"key": sample.key, "path": sample.path, "action": RELABEL, "to": to})

    def exclude(self, sample: Sample) -> None:
        self.changes.append({"key": sample.key, "path": sample.path, "action": EXCLUDE, "to": None})

    def undo(self) -> dict | None:
        """Drop the last correction; returns it (None when there is none)."""
        return self.changes.pop() if self.changes else None

    def current(self) -> dict[str, dict]:
        """Picture key -> its correction in force."""
        return {change["key"]: change for change in self.changes}

    def apply(self, manifest: Manifest) -> Manifest:
        """The dataset with the corrections in force: pictures relabelled or left out (the files untouched).

        A correction to a class the dataset no longer has is refused, in words.
        """
        label_of = {name: index for index, name in enumerate(manifest.classes)}
        corrections = self.current()
        samples = []
        for sample in manifest.samples:
            change = corrections.get(sample.key)
            if change is None:
                samples.append(sample)
            elif change["action"] == RELABEL:
                if change["to"] not in label_of:
                    raise ConfigError(f"A picture was relabelled '{change['to']}', a class the dataset no longer has; "
                                      "undo that change on the Data page.")
                samples.append(dataclasses.replace(sample, label=label_of[change["to"]]))
        return dataclasses.replace(manifest, samples=samples)

    def to_dict(self) -> dict:
        return {"changes": self.changes}


def load_overrides(folder: Path) -> Overrides:
    """The corrections kept in a folder; none when there is no file or it is damaged."""
    values = read_json(Path(folder) / OVERRIDES_FILE, default={})
    changes = values.get("changes") if isinstance(values, dict) else None
    if not isinstance(changes, list):
        return Overrides()
    usable = [c for c in changes if isinstance(c, dict) and isinstance(c.get("key"), str)
              and c.get("action") in (RELABEL, EXCLUDE) and (c.get("to") is None or isinstance(c.get("to"), str))]
    return Overrides(usable)


def save_overrides(folder: Path, overrides: Overrides) -> None:
    write_json_atomic(Path(folder) / OVERRIDES_FILE, overrides.to_dict())

"""The datasets library: every dataset the studio has, kept on disk with the manifest it was checked with.

Layout, under the studio's home:
    datasets/<id>/dataset.json    name, kind, source, when added and last used, classes, counts
    datasets/<id>/manifest.json   the scan (classes, samples, skipped files, warnings)

The id is a content key: the same pictures under the same class names give the same id, whether
they arrived as a folder, a zip or a server path, so a second upload of them is recognised. A
reload, a second tab or a restarted server finds every dataset here; the most recently used one
is the one a new session starts with.

Each dataset has an owner (class mode: the person who added it; otherwise LOCAL). Two people who
add the same pictures get a dataset each (the id mixes in the owner), so one renaming or deleting
theirs never touches the other's; the decoded pictures in the cache stay shared by content. Listing,
opening, renaming and deleting ask for the person and follow tlcore.people.person's rules.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tlcore import paths
from tlcore.config import DEFAULT_IMAGE_SIZE
from tlcore.errors import DamagedFile, InputError
from tlcore.people.person import LOCAL, NotVisible, NotYours, Person, may_change, may_see
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import Manifest
from tlcore.data.overrides import Overrides, load_overrides, save_overrides
from tlcore.data.uploads import folder_bytes
from tlcore.records import matches_annotation
from tlcore.jsonio import read_json, write_json_atomic

KINDS = ("upload", "zip", "folder", "sample", "fashion-mnist", "cifar-10", "camera")
"""Where a dataset came from: an uploaded folder, an uploaded zip, a folder on the server, built in."""
MAX_NAME_LENGTH = 80
THUMBNAILS = 6


@dataclass
class DatasetRecord:
    """One dataset of the library, as listed (its manifest is loaded on demand)."""

    id: str
    name: str
    kind: str
    source: str  # the folder that is scanned for training
    classes: list[str]
    counts: dict[str, dict[str, int]]  # class -> split -> images
    added_at: float
    used_at: float
    root: str = ""  # the folder training reads (a zip's extracted folder, a wrapper folder unwrapped)
    studio_copy: bool = False  # the source is the studio's own copy (an upload): deleting removes it
    image_size: int = DEFAULT_IMAGE_SIZE  # the size its pictures were checked and cached at
    thumbnail_keys: list[str] = field(default_factory=list)  # one picture per class, for the library
    owner: str = LOCAL.key  # the key of the person who added it (tlcore.people.person.Person.key)
    shared: bool = False  # the teacher shared it with the class: students see it and train on it

    @property
    def folder(self) -> Path:
        return library_dir() / self.id

    def images(self, split: str | None = None) -> int:
        return sum(n for splits in self.counts.values() for s, n in splits.items() if split in (None, s))

    def available(self) -> bool:
        """Whether its pictures are still where they were (a server folder can be moved or deleted)."""
        return Path(self.source).exists()


def library_dir() -> Path:
    folder = paths.studio_home() / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def content_id(manifest: Manifest) -> str:
    """The same pictures with the same class names give the same id, wherever and however they arrived."""
    rows = sorted((sample.key, manifest.classes[sample.label]) for sample in manifest.samples)
    payload = json.dumps({"classes": manifest.classes, "rows": rows, "split_given": manifest.split_given})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def dataset_id_for(manifest: Manifest, owner: Person = LOCAL) -> str:
    """The content key, made the owner's own in class mode (single-user ids stay as they always were)."""
    key = content_id(manifest)
    if owner.key == LOCAL.key:
        return key
    return hashlib.sha256(f"{key}\n{owner.key}".encode()).hexdigest()[:16]


def add_dataset(manifest: Manifest, name: str, kind: str, source: str | Path,
                studio_copy: bool = False, owner: Person = LOCAL) -> tuple[DatasetRecord, bool]:
    """Keep a checked dataset in the library, or find the one with the same pictures.

    Args:
        manifest: the dataset as scanned.
        name: what the person calls it.
        kind: one of KINDS.
        source: the folder that was scanned.
        studio_copy: the source is the studio's own copy (an upload), removed with the dataset.
        owner: who adds it; the same pictures added by someone else are another dataset.

    Returns:
        (record, added): added is False when the library already had these pictures; that record
        is returned (marked as just used) and nothing new is written.
    """
    dataset_id = dataset_id_for(manifest, owner)
    existing = load_record(dataset_id)
    now = time.time()
    if existing is not None and existing.available():
        existing.used_at = now
        _save_record(existing)
        return existing, False
    # The same folder scanned again after its pictures changed: the new check replaces the old one,
    # keeping the name the person gave it.
    replaced = [r for r in list_datasets() if r.source == str(source) and r.id != dataset_id and r.owner == owner.key]
    keys = {sample.key for sample in manifest.samples}
    shared, corrections = False, Overrides()
    if replaced:  # its name, its sharing and the corrections to pictures it still has go on
        name, shared = replaced[0].name, replaced[0].shared
        corrections = Overrides([change for change in load_overrides(replaced[0].folder).changes
                                 if change["key"] in keys])
        for old in replaced:
            _remove(old.folder)
    first_of_class = {}
    for sample in manifest.samples:
        first_of_class.setdefault(sample.label, sample.key)
    record = DatasetRecord(dataset_id, _clean_name(name), kind, str(source), list(manifest.classes),
                           manifest.counts(), now, now, root=manifest.root, studio_copy=studio_copy,
                           image_size=manifest.image_size,
                           thumbnail_keys=[first_of_class[label] for label in sorted(first_of_class)][:THUMBNAILS],
                           owner=owner.key, shared=shared)
    record.folder.mkdir(parents=True, exist_ok=True)
    manifest.save(record.folder / "manifest.json")
    if corrections.changes:
        save_overrides(record.folder, corrections)
    _save_record(record)
    return record, True


def list_datasets(person: Person | None = None) -> list[DatasetRecord]:
    """Every dataset in the library (or those this person may see), most recently used first; damaged
    records are left out."""
    records = [load_record(folder.name, person) for folder in library_dir().iterdir() if folder.is_dir()]
    return sorted((r for r in records if r is not None), key=lambda r: r.used_at, reverse=True)


def load_record(dataset_id: str, person: Person | None = None) -> DatasetRecord | None:
    """The dataset with this id, or None when there is none (its record damaged, or not this person's
    to see)."""
    if not _is_id(dataset_id):
        return None
    values = read_json(library_dir() / dataset_id / "dataset.json", default=None)
    fields = typing.get_type_hints(DatasetRecord)
    if not isinstance(values, dict) or not set(values) <= set(fields) or \
            not all(matches_annotation(value, fields[name]) for name, value in values.items()):
        return None  # not a record of ours, or a damaged one: left out of the list
    try:
        record = DatasetRecord(**values)
    except TypeError:  # a field missing
        return None
    return record if person is None or may_see(person, record.owner, record.shared) else None


def load_manifest(record: DatasetRecord) -> Manifest:
    """The manifest the dataset was checked with. Raises OSError or DamagedFile when it is damaged."""
    try:
        return Manifest.load(record.folder / "manifest.json")
    except (KeyError, TypeError) as error:
        raise DamagedFile(f"the saved check of '{record.name}' is damaged ({error})") from error


def mark_used(record: DatasetRecord, person: Person = LOCAL) -> None:
    """Make it the dataset this person's next new tab starts with (each person's own: never another's)."""
    write_json_atomic(_last_used_path(person), {"dataset": record.id})
    if may_change(person, record.owner):  # a shared dataset's record is its owner's to write
        record.used_at = time.time()
        _save_record(record)


def last_used(person: Person = LOCAL) -> DatasetRecord | None:
    """The dataset this person used last, while they may still see it and its pictures are there."""
    raw = read_json(_last_used_path(person), default=None)
    record = load_record(raw.get("dataset"), person) if isinstance(raw, dict) else None
    if (record is None or not record.available()) and person.key == LOCAL.key:
        record = next((r for r in list_datasets() if r.available()), None)  # the library's latest, as always
    return record if record is not None and record.available() else None


def _last_used_path(person: Person) -> Path:
    folder = library_dir() / ".last-used"
    folder.mkdir(exist_ok=True)
    return folder / (hashlib.sha256(person.key.encode()).hexdigest()[:32] + ".json")


def rename_dataset(record: DatasetRecord, name: str, person: Person = LOCAL) -> DatasetRecord:
    """Give it a new name (1 to 80 characters; surrounding spaces dropped)."""
    check_may_change(person, record, "rename")
    record.name = _clean_name(name)
    _save_record(record)
    return record


def delete_dataset(record: DatasetRecord, person: Person = LOCAL) -> int:
    """Remove a dataset from the library with its cached pictures; runs trained on it keep their results.

    The person's own folder on the server is never touched: only the studio's copy of an upload is
    removed. Cached arrays shared with another dataset (the same picture twice) are kept.

    Returns:
        Bytes freed on disk. Raises NotVisible or NotYours when it is not this person's to delete.
    """
    check_may_change(person, record, "delete")
    keys = _sample_keys(record)
    others = {key for other in list_datasets() if other.id != record.id for key in _sample_keys(other)}
    freed = 0
    cache = ImageCache(paths.cache_dir())
    for key in keys - others:
        for path in [*cache.root.joinpath("pixels").glob(f"*/{key[:2]}/{key}.npy"), cache.info_path(key)]:
            freed += _remove(path)
    shared_copy = any(other.source == record.source for other in list_datasets() if other.id != record.id)
    if record.studio_copy and _inside(Path(record.source), paths.data_dir()) and not shared_copy:
        freed += _remove(Path(record.source))  # another person's record of the same copy (the sample) keeps it
    freed += _remove(record.folder)
    return freed


def save_corrections(record: DatasetRecord, overrides: Overrides, person: Person = LOCAL) -> None:
    """Keep a person's label corrections beside the dataset's record: theirs to make on their own dataset
    (or the teacher's on any); a dataset shared with them is read-only."""
    check_may_change(person, record, "correct the labels of")
    save_overrides(record.folder, overrides)


def check_may_change(person: Person, record: DatasetRecord, action: str) -> None:
    if not may_see(person, record.owner, record.shared):
        raise NotVisible(f"There is no dataset '{record.id}' that you can {action}.")
    if not may_change(person, record.owner):
        raise NotYours(f"'{record.name}' was shared with the class to look at and train on; only the person "
                       f"who added it or the teacher can {action} it.")


def share_dataset(record: DatasetRecord, person: Person, shared: bool = True) -> DatasetRecord:
    """The teacher shares a dataset with the class (students see it and train on it), or takes it back."""
    if not person.is_teacher:
        raise NotYours("Only the teacher can share a dataset with the class.")
    record.shared = bool(shared)
    _save_record(record)
    return record


def trained_on(record: DatasetRecord, config) -> bool:
    """Whether a run's config (a RunConfig, or None when unreadable) trained on this dataset."""
    if config is None:
        return False
    return config.extra.get("dataset_id") == record.id or config.data in (record.source, record.root)


def _sample_keys(record: DatasetRecord) -> set[str]:
    try:
        return {sample.key for sample in load_manifest(record).samples}
    except (OSError, ValueError):
        return set()


def _save_record(record: DatasetRecord) -> None:
    record.folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record.folder / "dataset.json", asdict(record))


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise InputError("A dataset needs a name.")
    return name[:MAX_NAME_LENGTH]


def _is_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve()) and path.resolve() != root.resolve()
    except OSError:
        return False


def _remove(path: Path) -> int:
    """Delete a file or folder; returns the bytes it took (0 if it was not there)."""
    try:
        if path.is_dir() and not path.is_symlink():
            size = folder_bytes(path)
            shutil.rmtree(path)
            return size
        size = path.stat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return 0

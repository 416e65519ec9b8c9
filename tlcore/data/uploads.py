"""Write files uploaded from a browser to disk once, under names the studio controls.

An uploaded file's name comes from the browser and may be anything ("../../etc/x.png",
"/abs/x.png", "C:\\x.png", control characters). It is never used as a path: every component is
cleaned on its own, components that climb or are empty are dropped, and the result is checked to
lie inside a freshly made folder ``data_dir()/upload-<timestamp>-<hex>/``.
"""
from __future__ import annotations

import re
import secrets
import shutil
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from tlcore import limits, paths
from tlcore.data.archive import TooLarge, extract_zip
from tlcore.diskspace import is_disk_full, require_free_space
from tlcore.data.manifest import DataError, Skipped, is_junk, why_left_out
from tlcore.data.names import comparable, shown

MAX_COMPONENT_BYTES = 150  # well under every file system's 255-byte limit, leaving room for a suffix
_FORBIDDEN = set('<>:"|?*\\/')  # not allowed in names on Windows, or separators anywhere
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_DRIVE = re.compile(r"^[A-Za-z]:$")
_CHUNK = 1 << 20


class UploadedFileLike(Protocol):
    """What Streamlit's UploadedFile offers and these functions need."""

    name: str

    def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Allowance:
    """How many more bytes this person's uploads may take, and the words that refuse one past it."""

    bytes: int
    refusal: str

    @property
    def binds(self) -> bool:
        """Whether it is reached before the studio's own limit, so that a refusal is its to say."""
        return self.bytes < limits.max_dataset_bytes()


@dataclass
class Upload:
    """A dataset written from an upload."""

    path: Path  # the folder to scan
    name: str  # what the person called it (cleaned), for display
    files: int  # files written
    skipped: list[Skipped] = field(default_factory=list)  # files not written, with reasons


def new_upload_dir(root: str | Path | None = None) -> Path:
    """A new, empty folder ``upload-<timestamp>-<hex>`` under root (default: the data folder)."""
    root = Path(root) if root else paths.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"upload-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder.mkdir()  # never an existing folder: a name collision raises instead of mixing uploads
    return folder


def safe_component(name: str) -> str | None:
    """One path component made safe on every file system, or None when nothing usable is left.

    Args:
        name: a single file or folder name, as the browser sent it.

    Returns:
        The cleaned name; None for "", "." and "..".
    """
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in _FORBIDDEN)
    name = name.strip().rstrip(". ")  # Windows drops trailing dots and spaces silently
    if name in ("", ".", ".."):
        return None
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return _truncate(name)


def safe_relative_path(name: str) -> PurePosixPath | None:
    """A browser-supplied relative name as a clean relative path, or None if nothing is left.

    Separators of either kind split it; a drive letter, "", "." and ".." components are dropped,
    so the result can never climb out of the folder it is joined to.
    """
    parts = [p for p in re.split(r"[\\/]+", name) if not _DRIVE.match(p)]
    cleaned = [part for part in map(safe_component, parts) if part is not None]
    return PurePosixPath(*cleaned) if cleaned else None


def save_folder_upload(files: Iterable[UploadedFileLike], root: str | Path | None = None,
                       allowance: Allowance | None = None) -> Upload:
    """Write an uploaded folder to ``root/upload-<timestamp>-<hex>/<class>/<file>``.

    The folder's own name, which browsers put in front of every path, becomes the upload's name.

    Args:
        files: uploaded files whose ``name`` is the path relative to the chosen folder.
        root: where the upload folder is made (default: the data folder).
        allowance: what the person may still upload (a class's rule), below the studio's own limit.

    Returns:
        The upload. Raises DataError when no file could be written or the total is too large.
    """
    files = list(files)
    planned, skipped = _plan_paths(files)
    name = _common_top(planned)
    if name is not None:
        planned = [(upload, PurePosixPath(*rel.parts[1:])) for upload, rel in planned]
    dest = new_upload_dir(root)
    written, total = 0, 0
    try:
        require_free_space(dest, sum(getattr(upload, "size", 0) for upload, _ in planned), "the uploaded files")
        taken: set[str] = set()
        for upload, relative in planned:
            target = _unique(dest, relative, taken)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                total += _copy(upload, target, _budget(allowance) - total, allowance)
                written += 1
            except OSError as error:
                if is_disk_full(error):
                    raise  # every file after it would fail the same way
                skipped.append(Skipped(relative.as_posix(), f"could not be saved ({error.strerror or error})"))
        if not written:
            raise DataError(f"None of the {len(files)} uploaded files could be used; a dataset needs "
                            "image files inside one folder per class.", skipped)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # half an upload is never a dataset
        raise
    return Upload(dest, name or "uploaded folder", written, skipped)


def save_zip_upload(file: UploadedFileLike, root: str | Path | None = None,
                    allowance: Allowance | None = None) -> Upload:
    """Write an uploaded .zip to disk, extract it safely into a new upload folder, delete the zip.

    Args:
        file: the uploaded zip.
        root: where the upload folder is made (default: the data folder).
        allowance: what the person may still upload (a class's rule), unzipped.

    Returns:
        The upload, with the zip entries that were not extracted. Raises DataError for a file
        that is not a zip or is over the size caps; nothing is left on disk then.
    """
    zip_name = safe_component(PurePosixPath(file.name.replace("\\", "/")).name) or "upload.zip"
    dest = new_upload_dir(root)
    # A hidden sibling folder keeps the person's file name, so extract_zip's messages mention it.
    incoming = dest.with_name(f".{dest.name}.incoming")
    try:
        incoming.mkdir()
        require_free_space(incoming, getattr(file, "size", 0), "the uploaded zip")
        archive = incoming / zip_name
        _copy(file, archive, _budget(allowance), allowance)
        try:  # unzipped no further than the person may upload
            skipped = extract_zip(archive, dest, max_total_bytes=_budget(allowance))
        except TooLarge:
            if allowance is not None and allowance.binds:
                raise DataError(allowance.refusal) from None
            raise
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    count = sum(1 for p in dest.rglob("*") if p.is_file())
    return Upload(dest, zip_name, count, skipped)


def _plan_paths(files) -> tuple[list[tuple[UploadedFileLike, PurePosixPath]], list[Skipped]]:
    planned, skipped = [], []
    for upload in files:
        relative = safe_relative_path(upload.name)
        if relative is None:
            skipped.append(Skipped(upload.name, "its name has no usable characters"))
        elif any(is_junk(part) for part in relative.parts):
            hidden = why_left_out(*relative.parts, outcome="not saved")
            if hidden:  # .DS_Store, __MACOSX and the like are never data: left out without a word
                skipped.append(Skipped(relative.as_posix(), hidden))
        else:
            planned.append((upload, relative))
    _refuse_folder_names_lost_in_cleaning([upload.name for upload, _ in planned])
    return planned, skipped


def _refuse_folder_names_lost_in_cleaning(names: list[str]) -> None:
    """Refuse an upload whose folders cleaning would drop or merge, naming each of them.

    Cleaning drops a folder named '...' or '   ' (its pictures would fall into the folder above) and
    makes 'cat.' or 'cat' with an invisible character into 'cat' (two folders silently one class).
    The person's folders are theirs to rename; the upload never guesses.
    """
    folders = {tuple(_folder_parts(name)) for name in names}
    tops = {parts[0] for parts in folders if parts}
    picked = len(tops) == 1 and all(folders)  # the folder the person picked: its name is not a class
    blank, spellings = set(), defaultdict(set)
    for parts in folders:
        for depth in range(int(picked), len(parts)):
            if not _folder_key(parts[depth]):
                blank.add("/".join(parts[:depth + 1]))
            spellings[tuple(map(_folder_key, parts[:depth + 1]))].add("/".join(parts[:depth + 1]))
    if blank:
        raise DataError(f"The folder(s) {', '.join(map(shown, sorted(blank)))} have no letters or digits once "
                        "dots, spaces and invisible characters are set aside, so their pictures cannot be given a "
                        "class. Rename them and upload again.")
    merged = [sorted(group) for group in spellings.values() if len(group) > 1]
    if merged:
        groups = "; ".join(" and ".join(map(shown, group)) for group in sorted(merged))
        raise DataError(f"These folders differ only by capital letters, spaces, trailing dots or invisible "
                        f"characters, so they would become one folder, or classes that look the same: {groups}. "
                        "Rename them, or move their pictures into one folder, and upload again.")


def _folder_key(part: str) -> str:
    """What a folder's name becomes once cleaned, as people compare names; empty when nothing is left."""
    return comparable(safe_component(part) or "")


def _folder_parts(name: str) -> list[str]:
    """The folders of a browser-supplied name as the person spelled them, without the parts cleaning
    drops as paths (empty, '.', '..', a drive letter)."""
    parts = [part for part in re.split(r"[\\/]+", name) if not _DRIVE.match(part)]
    return [part for part in parts[:-1] if part not in ("", ".", "..")]


def _common_top(planned) -> str | None:
    """The one top folder every file sits in (the folder the person picked), else None."""
    tops = {rel.parts[0] for _, rel in planned if len(rel.parts) > 1}
    if len(tops) == 1 and all(len(rel.parts) > 1 for _, rel in planned):
        return tops.pop()
    return None


def _unique(dest: Path, relative: PurePosixPath, taken: set[str]) -> Path:
    """dest/relative, renamed "-2", "-3"... where cleaning made two names equal (case-insensitively)."""
    candidate, n = relative, 1
    while candidate.as_posix().lower() in taken:
        n += 1
        candidate = relative.with_name(f"{relative.stem}-{n}{relative.suffix}")
    taken.add(candidate.as_posix().lower())
    target = dest / candidate
    if not target.resolve().is_relative_to(dest.resolve()):  # cannot happen after cleaning; never trust it
        raise DataError(f"The uploaded name '{relative}' points outside the upload folder.")
    return target


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink())


def _budget(allowance: Allowance | None) -> int:
    return limits.max_dataset_bytes() if allowance is None else min(allowance.bytes, limits.max_dataset_bytes())


def _copy(source: UploadedFileLike, target: Path, budget: int, allowance: Allowance | None = None) -> int:
    """Stream source into a new file; DataError once more than budget bytes were written."""
    if hasattr(source, "seek"):
        source.seek(0)
    written = 0
    with open(target, "xb") as sink:  # "x": never overwrite anything
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > budget and allowance is not None and allowance.binds:
                raise DataError(allowance.refusal)  # the teacher's limit, not the studio's, was reached
            if written > budget:
                raise DataError(f"The upload is larger than the {limits.max_dataset_bytes() / 1024**2:,.0f} MB "
                                f"a dataset may take (set {limits.MAX_DATASET_MB_ENV} to change it), "
                                "so it was refused.")
            sink.write(chunk)
    return written


def _truncate(name: str) -> str:
    if len(name.encode()) <= MAX_COMPONENT_BYTES:
        return name
    path = PurePosixPath(name)
    suffix = path.suffix if len(path.suffix.encode()) < 16 else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    while len((stem + suffix).encode()) > MAX_COMPONENT_BYTES:
        stem = stem[:-1]
    return stem + suffix

"""Safe zip extraction: entry by entry, inside the destination, under caps on entries and bytes."""
from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path

from tlcore import limits
from tlcore.diskspace import is_disk_full, require_free_space
from tlcore.data.manifest import DataError, Skipped, is_junk, why_left_out

ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar",
                                ".zst"})
_CHUNK = 1 << 20


class TooLarge(DataError):
    """A zip that unpacks to more than it may (the studio's limit, or the size given)."""


def extract_zip(zip_path: str | os.PathLike, dest: str | os.PathLike, *,
                max_entries: int = limits.MAX_ZIP_ENTRIES, max_total_bytes: int | None = None,
                max_ratio: float | None = None) -> list[Skipped]:
    """Extract a zip entry by entry, never writing outside ``dest``, links, or nested archives.

    Args:
        zip_path: the zip file.
        dest: the folder to extract into (created).
        max_entries: more entries than this refuses the zip.
        max_total_bytes: a zip that says it unpacks to more refuses before anything is written,
            and so does one that writes more while streaming (a zip bomb's headers lie about
            sizes). Default: tlcore.limits.max_dataset_bytes().
        max_ratio: a zip that says it unpacks to more than this many times its own size (and to
            more than limits.RATIO_CHECK_FROM_BYTES) is refused. Default: limits.max_zip_ratio().

    Returns:
        The entries that were not extracted, with reasons (clutter like __MACOSX is left out).

    Raises:
        DataError: not a zip, or over a cap (the partial extraction is removed).
        OSError: the disk has no room for what the zip says it holds (NotEnoughSpace).
    """
    zip_path, dest = Path(zip_path), Path(dest)
    max_total_bytes = limits.max_dataset_bytes() if max_total_bytes is None else max_total_bytes
    max_ratio = limits.max_zip_ratio() if max_ratio is None else max_ratio
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DataError(f"'{zip_path.name}' is not a valid zip file.") from error
    try:
        check_declared_sizes(archive, zip_path, max_entries, max_total_bytes, max_ratio)
        require_free_space(dest,
                           sum(info.file_size for info in archive.infolist()), "the unzipped files")
    except BaseException:
        archive.close()
        raise
    created_dest = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    dest_root = dest.resolve()
    skipped, written, total, names = [], [], 0, set()
    try:
        with archive:
            for info in archive.infolist():
                reason, relative = _entry_destination(info)
                if reason is None and relative in names and not info.is_dir():
                    reason = "a second entry of the same name in the zip; the first one was kept"
                if reason is not None:
                    skipped.append(Skipped(info.filename, reason))
                elif relative is not None and is_inside(target := dest_root / relative, dest_root):
                    written.append(target)
                    try:
                        total += _write_entry(archive, info, target, max_total_bytes - total)
                        names.add(relative)  # only a kept entry makes a later one of its name a duplicate
                    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError,
                            RuntimeError, OSError) as error:
                        if isinstance(error, OSError) and is_disk_full(error):
                            raise  # out of space or of file entries (inodes): every entry after it fails too
                        skipped.append(Skipped(info.filename, f"could not be extracted ({error})"))
                if total > max_total_bytes:
                    raise TooLarge(f"The zip '{zip_path.name}' unpacks to more than "
                                    f"{_human_bytes(max_total_bytes)}, so it was refused.")
    except BaseException:  # a refusal, a full disk, a cancel: half a zip is never a dataset
        if created_dest:
            shutil.rmtree(dest, ignore_errors=True)
        else:  # never delete what was there before
            for path in (p for p in written if p.is_file()):
                path.unlink()
        raise
    return skipped


def check_declared_sizes(archive: zipfile.ZipFile, zip_path: Path, max_entries: int = limits.MAX_ZIP_ENTRIES,
                         max_total_bytes: int | None = None, max_ratio: float | None = None) -> None:
    """Refuse a zip by what its directory says, before anything is written (DataError).

    The defaults are the studio's limits (tlcore.limits).
    """
    max_total_bytes = limits.max_dataset_bytes() if max_total_bytes is None else max_total_bytes
    max_ratio = limits.max_zip_ratio() if max_ratio is None else max_ratio
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise DataError(f"The zip '{zip_path.name}' has {len(infos):,} entries, more than the "
                        f"{max_entries:,} allowed, so it was refused.")
    unpacked = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if unpacked > max_total_bytes:
        raise TooLarge(f"The zip '{zip_path.name}' unpacks to {_human_bytes(unpacked)}, more than the "
                        f"{_human_bytes(max_total_bytes)} a dataset may take (set "
                        f"{limits.MAX_DATASET_MB_ENV} to change it), so it was refused.")
    if unpacked > limits.RATIO_CHECK_FROM_BYTES and unpacked > max_ratio * max(packed, 1):
        raise DataError(f"The zip '{zip_path.name}' unpacks to {_human_bytes(unpacked)} from "
                        f"{_human_bytes(packed)}, {unpacked / max(packed, 1):,.0f} times its size; pictures "
                        f"do not shrink like that (the limit is {max_ratio:g} times, set by "
                        f"{limits.MAX_ZIP_RATIO_ENV}), so it was refused.")


def _write_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path,
                 allowance: int) -> int:
    """Stream one entry to disk, stopping once past ``allowance`` bytes; returns bytes written."""
    if info.is_dir():  # kept, so an empty class folder is still seen as a class
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as source, open(target, "wb") as sink:
            while written <= allowance and (chunk := source.read(_CHUNK)):
                sink.write(chunk)
                written += len(chunk)
    except BaseException:
        if target.is_file():  # half an entry would later look like a corrupt image
            target.unlink()
        raise
    return written


def _entry_destination(info: zipfile.ZipInfo) -> tuple[str | None, str | None]:
    """(reason to skip and report, or None; safe relative path, or None to drop silently)."""
    name = info.filename.replace("\\", "/")  # some Windows tools write backslashes
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path; not extracted", None
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../"):
        return "points outside the dataset folder; not extracted", None
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link; not extracted", None
    parts = [part for part in normal.split("/") if part not in ("", ".")]
    hidden = why_left_out(*parts, outcome="not extracted")
    if hidden:
        return hidden, None
    if not parts or any(is_junk(part) for part in parts):
        return None, None
    if not info.is_dir() and Path(parts[-1]).suffix.lower() in ARCHIVE_EXTENSIONS:
        return "archive inside the zip; not extracted (unpack it first)", None
    if info.flag_bits & 0x1:
        return "encrypted entry; not extracted", None
    return None, "/".join(parts)


def is_inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root)


def _human_bytes(count: int) -> str:
    return f"{count / 1024**3:.1f} GB" if count >= 1024**3 else f"{count / 1024**2:.1f} MB" \
        if count >= 1024**2 else f"{count:,} bytes"

"""Free disk space: checked before the big writes, and a full disk named as such when it happens.

A run that fails an hour in because the disk filled up wastes the hour; one that is refused at the
start, with the number of megabytes it needs, does not. The figures are estimates with a margin,
so a check passes whenever the write would.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MARGIN_BYTES = 64 * 1024**2
"""Kept free beyond a write's own size: logs, status and event files, and the system's own needs."""

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class NotEnoughSpace(OSError):
    """A write refused before it started, because the disk lacks the space it needs."""

    def __init__(self, where: Path, needed: int, free: int, what: str):
        super().__init__(errno.ENOSPC, f"{what} need about {megabytes(needed)} and {megabytes(MARGIN_BYTES)} "
                                       f"more is kept free, but only {megabytes(free)} is free", str(where))
        self.needed, self.free = needed, free


def free_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the file system holding path (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


def require_free_space(where: str | os.PathLike, needed: int, what: str) -> None:
    """Raise NotEnoughSpace unless ``needed`` bytes and a margin are free where they will be written.

    Args:
        where: the folder the bytes go to.
        needed: an estimate of the bytes about to be written.
        what: the data in words, as the subject of "need about N MB" ("the decoded pictures").
    """
    free = free_bytes(where)
    if free < needed + MARGIN_BYTES:
        raise NotEnoughSpace(Path(where), needed, free, what)


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def disk_full_message(error: OSError) -> str:
    """One sentence for a full disk: where, and what was needed when that is known."""
    where = f" ({_folder_named(error.filename)})" if error.filename else ""
    detail = f": {error.strerror}" if isinstance(error, NotEnoughSpace) else ""
    return f"The disk is full{where}{detail}. Free some space and try again."


def _folder_named(filename) -> Path:
    """The folder for a person to free space in: a temporary file's name would mean nothing to them."""
    path = Path(filename)
    return path.parent if path.name.startswith(".") or path.suffix in (".tmp", ".part") else path


def megabytes(count: int) -> str:
    size = count / 1024**2
    return f"{size:,.1f} MB" if size < 10 else f"{size:,.0f} MB"

"""JSON files the studio writes and reads back: atomic writes, and reads that never trust the file.

At the root of the engine, below the data, the run store and the datasets library, which all use
it. A file read here may have been damaged by a full disk, an editor or a hostile hand: it may be
a named pipe (reading would block for ever), not JSON, or JSON nested deeper than Python parses.
"""
import json
import os
import stat
import tempfile
from pathlib import Path

from tlcore.diskspace import is_disk_full
from tlcore.errors import DamagedFile

MAX_JSON_BYTES = 64 * 1024**2  # far beyond any file of the studio's; more is not one of them


class NotAFile(OSError):
    """A path that should be a regular file is something else (a folder, a named pipe, a device)."""


def read_regular_bytes(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """A regular file's bytes. Raises FileNotFoundError, NotAFile, or OSError (unreadable, too big)."""
    path = Path(path)
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise NotAFile(f"not a regular file: {path}")
    with open(path, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotAFile(f"larger than {max_bytes} bytes: {path}")
    return data


def load_json(path: str | os.PathLike):
    """Parse a JSON file. Raises OSError (missing, unreadable, not a regular file) or DamagedFile, a
    ValueError (not JSON, not UTF-8, or nested too deep to parse)."""
    data = read_regular_bytes(path)
    try:
        return json.loads(data)
    except RecursionError as error:
        raise DamagedFile(f"{Path(path).name} is nested too deeply to be one of the studio's files") from error
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise DamagedFile(f"{Path(path).name} is damaged: it is not the JSON the studio wrote ({error})") from error


def read_json(path: str | os.PathLike, default=None):
    """A JSON file's value, or ``default`` when it is missing, damaged, or no regular file."""
    try:
        return load_json(path)
    except (OSError, ValueError):
        return default


def write_json_atomic(path: str | os.PathLike, value, *, indent: int | None = 1) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one.

    On a full disk the temp file cannot be written, yet the final status of a run must still reach
    its folder (else it reads "running" for good). Then the file is rewritten in place: truncating
    it frees the blocks that the new text, about as long, needs. A reader could see half of that
    one write; it retries, and a run that says why it failed is worth it.

    ``indent=None`` writes compactly, through json's C encoder: for the large files (a manifest of
    thousands of pictures) indenting costs ten times the time.
    """
    path = Path(path)
    text = json.dumps(value, indent=indent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        if not is_disk_full(error) or not path.is_file():
            raise
        _rewrite_in_place(path, text)
        return
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are meant to be read
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if not is_disk_full(error) or not path.is_file():
            raise
        _rewrite_in_place(path, text)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rewrite_in_place(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)

"""Errors said to people: bad input in one sentence, and errors of the machine (files, disks) in words.

InputError is the base of every refusal written for a person (a config, a dataset, a weights file, a
picture's class): the worker and the CLI say its message as it is. Any other exception is a bug or a
fault of the machine, reported with its type and its traceback in the log. It is a ValueError, as
what it refuses is a value someone gave.
"""
from tlcore.diskspace import disk_full_message, is_disk_full


class InputError(ValueError):
    """Input a person gave that cannot be used; ``str(error)`` says why in one sentence."""


class DamagedFile(InputError):
    """One of the studio's own files (a config, a manifest, a record) is not what it wrote: a full disk,
    an editor, a copy cut short. Said in words; the traceback would only point at the JSON parser."""


def describe_os_error(error: OSError) -> str:
    """One sentence for a file or disk error: a full disk by name, otherwise the system's words and where."""
    if is_disk_full(error):
        return disk_full_message(error)
    where = f" ({error.filename})" if error.filename else ""
    return f"A file could not be read or written{where}: {error.strerror or error}."

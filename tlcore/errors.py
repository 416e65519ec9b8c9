"""Errors of the machine (files, disks) as one sentence a person can act on."""
from tlcore.diskspace import disk_full_message, is_disk_full


def describe_os_error(error: OSError) -> str:
    """One sentence for a file or disk error: a full disk by name, otherwise the system's words and where."""
    if is_disk_full(error):
        return disk_full_message(error)
    where = f" ({error.filename})" if error.filename else ""
    return f"A file could not be read or written{where}: {error.strerror or error}."

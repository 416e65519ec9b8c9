"""Getting a dataset in: scanning it with a progress bar, and which server folders may be opened."""
import errno
import os
import shutil
from pathlib import Path

import streamlit as st

from tlcore.data import datasets
from tlcore import paths
from tlcore.config import DEFAULT_IMAGE_SIZE
from tlcore.data.scan import scan
from tlcore.errors import describe_os_error
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError, Skipped
from tlcore.data.samples import install_sample
from ui.people import class_name, current_person
from ui.state import ChosenDataset, DataProblem, choose_dataset, dataset_from_library, refuse_dataset

SCAN_IMAGE_SIZE = DEFAULT_IMAGE_SIZE  # a run at the default size finds every image decoded
VAL_FRACTION = 0.2  # RunConfig's default, so the report shows the split a default run trains on
LOOPBACK_ADDRESSES = {"localhost", "127.0.0.1", "::1"}
SAMPLE_LABEL = "Fashion sample (built in)"


def progress_reporter(bar, text: str):
    """A scan's progress callback drawing on a progress bar: about 50 updates, not one message per file."""
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 50) == 0:
            bar.progress(done / total, text=f"{text}: {done} of {total}")
    return report


def scan_and_choose(source: str | Path, label: str, upload_skipped: list[Skipped] = (), *, kind: str = "folder",
                    studio_copy: bool = False) -> ChosenDataset | None:
    """Scan a dataset with a progress bar, keep it in the datasets library and make it the session's dataset.

    Pictures the library already has (the same files under the same class names) are not added
    twice: the existing dataset is chosen, and a studio copy just made of them is removed.

    Args:
        source: the folder or zip to scan.
        label: its name for people.
        upload_skipped: files an upload left out, shown in the report.
        kind: where it came from (tlcore.datasets.KINDS).
        studio_copy: the source is the studio's own copy (an upload), removed with the dataset.

    Returns:
        The dataset, or None when it was refused (the reason is kept for the Data page to show).
    """
    bar = st.progress(0.0, text=f"Checking the images of '{label}'…")
    report = progress_reporter(bar, f"Checking the images of '{label}'")
    try:
        manifest = scan(source, cache=ImageCache(paths.cache_dir()), image_size=SCAN_IMAGE_SIZE,
                        val_fraction=VAL_FRACTION, on_progress=report, link_roots=allowed_roots())
    except DataError as error:
        # An upload's folder has a generated name; the person knows it by theirs.
        message = str(error).replace(Path(source).name, label)
        if label not in message:
            message = f"'{label}' cannot be used: {message[:1].lower()}{message[1:]}"
        refuse_dataset(DataProblem(label, message, [*upload_skipped, *error.skipped]))
        return None
    except OSError as error:
        refuse_dataset(DataProblem(label, f"'{label}' could not be checked. {describe_os_error(error)}"))
        return None
    finally:
        bar.empty()
    try:
        record, added = datasets.add_dataset(manifest, label, kind, source, studio_copy=studio_copy,
                                             owner=current_person())
    except OSError as error:  # a full disk: the library could not keep it
        refuse_dataset(DataProblem(label, f"'{label}' could not be kept in the library. {describe_os_error(error)}"))
        return None
    if not added and record.source != str(source):
        existing = dataset_from_library(record)
        if existing is not None:
            existing.note = (f"These pictures are already in the studio as '{record.name}', so that dataset is "
                             "used instead of a second copy.")
            if studio_copy:  # only once the existing one is chosen: training must never point at a removed folder
                shutil.rmtree(source, ignore_errors=True)
            choose_dataset(existing)
            return existing
    dataset = ChosenDataset(str(source), record.name, manifest, list(upload_skipped), dataset_id=record.id)
    choose_dataset(dataset)
    return dataset


def use_sample() -> ChosenDataset | None:
    """The built-in sample (written to the data folder on first use), scanned and chosen."""
    try:
        folder = install_sample()
    except OSError as error:  # a full disk, a read-only home
        refuse_dataset(DataProblem(SAMPLE_LABEL, f"The sample could not be written to the data folder. "
                                                 f"{describe_os_error(error)}"))
        return None
    return scan_and_choose(folder, SAMPLE_LABEL, kind="sample", studio_copy=True)


def allowed_roots() -> list[Path]:
    """Server folders the Data page may open.

    TLSTUDIO_ALLOWED_ROOTS (os.pathsep-separated) decides when set. Otherwise the person's home and
    the studio's data folder, but only when the app listens on this machine alone: on a network,
    anyone who can reach the page could read the server's files. On a class server, none for students.
    """
    if class_name() is not None and not current_person().is_teacher:
        return []  # a class server's folders are its teacher's alone: students upload theirs
    if os.environ.get(paths.ALLOWED_ROOTS_ENV) is not None or served_locally():
        return paths.allowed_roots()
    return []


def served_locally() -> bool:
    return (st.get_option("server.address") or "") in LOOPBACK_ADDRESSES


def resolve_server_path(text: str, roots: list[Path]) -> Path:
    """The typed path, resolved (links followed), if it lies inside an allowed root.

    Raises:
        DataError: empty, relative, outside the allowed roots, or missing.
    """
    text = text.strip()
    if not text:
        raise DataError("Type the path of a folder (or .zip file) on the server.")
    if "\0" in text:
        raise DataError("The path holds a NUL character, which no file or folder name can contain; "
                        "type it again.")
    try:
        path = Path(text).expanduser()
        real = path.resolve()
    except (RuntimeError, OSError) as error:  # ~someone unknown, a loop of links
        raise DataError(f"'{text}' cannot be opened: {error}.") from error
    if not path.is_absolute():
        raise DataError(f"'{text}' is not a full path; start it with / (or ~ for your home folder).")
    if not any(real == root or real.is_relative_to(root) for root in roots):
        where = ", ".join(str(r) for r in roots) or "none"
        raise DataError(f"'{text}' is outside the folders this app may open (allowed: {where}).")
    try:
        exists = real.exists()
    except OSError as error:  # a name or a path longer than the system allows, a folder that cannot be entered
        why = (f"it is longer than this computer allows for a path ({len(text):,} characters), or one of its "
               "names is" if error.errno == errno.ENAMETOOLONG else error.strerror or str(error))
        raise DataError(f"'{_shortened(text)}' cannot be opened: {why}.") from error
    if not exists:
        raise DataError(f"'{text}' does not exist.")
    return real


def _shortened(text: str, keep: int = 80) -> str:
    """A long typed path as a person can still read it in one line: its start and its end."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}…{text[-keep:]}"

"""The datasets library on the Data page: every dataset the studio has, to pick, rename or delete."""
import time

import streamlit as st

from tlcore.data import datasets
from tlcore import paths
from tlcore.data.datasets import DatasetRecord
from tlcore.errors import InputError, describe_os_error
from tlcore.data.imagecache import ImageCache
from tlcore.people.person import Person, may_change
from tlcore.runs import list_runs
from ui.dataset import scan_and_choose
from ui.people import class_name, current_person, owner_words
from ui.state import choose_dataset, chosen_dataset, dataset_from_library, forget_dataset

LIBRARY_MESSAGE = "library_message"
KIND_WORDS = {"upload": "uploaded folder", "zip": "uploaded zip", "folder": "folder on this computer",
              "sample": "built in", "fashion-mnist": "ready-made", "cifar-10": "ready-made",
              "camera": "from the camera"}
BUILT_IN_KINDS = {"sample", "fashion-mnist", "cifar-10"}  # the studio's own pictures: nothing to check again


def library_ui() -> None:
    """One row per dataset this person may see, most recently used first, with what it holds and the runs
    trained on it."""
    person = current_person()
    records = datasets.list_datasets(person)
    if not records:
        return
    st.header("Your datasets")
    chosen = chosen_dataset()
    summaries = list_runs(person=person)
    for record in records:
        in_use = chosen is not None and chosen.dataset_id == record.id
        runs = sum(1 for run in summaries if datasets.trained_on(record, run.config))
        dataset_row_ui(record, in_use, runs, person)


def dataset_row_ui(record: DatasetRecord, in_use: bool, runs: int, person: Person) -> None:
    with st.container(border=True, key=f"dataset_{record.id}"):
        pictures, facts, actions = st.columns([2, 4, 4], vertical_alignment="center")
        thumbnails = _thumbnails(record)
        if thumbnails:
            pictures.image(thumbnails, width=44)
        facts.markdown(f"**{record.name}**" + (" · :green-badge[in use]" if in_use else "")
                       + (" · :blue-badge[shared with the class]" if record.shared else "")
                       + (f" · {owner_words(record.owner)}" if class_name() and record.owner != person.key else ""))
        runs_text = f"{runs} run{'s' * (runs != 1)} trained on it" if runs else "no runs yet"
        facts.caption(f"{len(record.classes)} classes · {record.images('train')} pictures to learn from · "
                      f"{record.images('val')} to check on · {KIND_WORDS.get(record.kind, record.kind)} · "
                      f"added {time.strftime('%d %b %H:%M', time.localtime(record.added_at))} · {runs_text}")
        if not record.available():
            facts.warning("Its pictures are no longer where they were; it cannot be used.")
        with actions:
            use, again, rename, delete = st.columns(4)
            use.button("Use", key=f"use_{record.id}", disabled=in_use or not record.available(),
                       on_click=_use, args=(record.id,), use_container_width=True)
            if not may_change(person, record.owner):
                again.caption("Shared by your teacher: use it and train on it.")
                return
            # Its owner's alone: a check made by someone else would be a dataset of theirs, the owner's unchanged.
            if record.kind not in BUILT_IN_KINDS and record.owner == person.key and again.button(
                    "Check again", key=f"check_{record.id}", disabled=not record.available(),
                    help="Read its pictures again: after pictures were added, changed or deleted in its folder.",
                    use_container_width=True):
                _check_again(record)
            with rename.popover("Rename", use_container_width=True):
                st.text_input("New name", value=record.name, key=f"name_{record.id}",
                              max_chars=datasets.MAX_NAME_LENGTH)
                st.button("Save the name", key=f"rename_{record.id}", on_click=_rename, args=(record.id,))
            with delete.popover("Delete", use_container_width=True):
                what = ("its pictures (the studio's copy) and" if record.studio_copy
                        else "its decoded pictures, not your folder, and")
                st.markdown(f"Delete **{record.name}**? This removes {what} its place in this list. "
                            "Runs trained on it keep their results and models.")
                st.button("Delete it", key=f"delete_{record.id}", type="primary", on_click=_delete, args=(record.id,))
        if class_name() and person.is_teacher:
            st.toggle("Share with the class (students see it and train on it, read-only)", value=record.shared,
                      key=f"share_{record.id}", on_change=_share, args=(record.id,))


def _check_again(record: DatasetRecord) -> None:
    """Scan the dataset's folder again: the new check replaces the old one under the same name."""
    if scan_and_choose(record.source, record.name, kind=record.kind, studio_copy=record.studio_copy) is not None:
        _say("success", f"'{record.name}' was checked again; the report below is its pictures as they are now.")
    st.rerun()


def _thumbnails(record: DatasetRecord) -> list:
    cache = ImageCache(paths.cache_dir())
    pictures = []
    for key in record.thumbnail_keys:
        try:
            pictures.append(cache.load(key, record.image_size))
        except (OSError, ValueError):  # the cache was cleared: the row goes without pictures
            pass
    return pictures


def _current(dataset_id: str) -> DatasetRecord | None:
    """The record as it is on disk now: another tab may have renamed or deleted it since the row was drawn."""
    record = datasets.load_record(dataset_id, current_person())
    if record is None:
        _say("error", "That dataset is no longer in the library (deleted in another tab?).")
    return record


def _use(dataset_id: str) -> None:
    record = _current(dataset_id)
    if record is None:
        return
    dataset = dataset_from_library(record)
    if dataset is None:
        _say("error", f"'{record.name}' could not be opened: its saved check is damaged. Add its pictures again.")
        return
    choose_dataset(dataset)


def _rename(dataset_id: str) -> None:
    record = _current(dataset_id)
    if record is None:
        return
    try:  # read from the widget now: arguments bound when the button was drawn hold the old text
        datasets.rename_dataset(record, st.session_state[f"name_{dataset_id}"], current_person())
    except InputError as error:  # no name, or not this person's to rename
        _say("error", str(error))
        return
    except OSError as error:
        _say("error", f"'{record.name}' could not be renamed. {describe_os_error(error)}")
        return
    chosen = chosen_dataset()
    if chosen is not None and chosen.dataset_id == record.id:
        chosen.label = record.name


def _delete(dataset_id: str) -> None:
    record = _current(dataset_id)
    if record is None:
        return
    using = [run for run in list_runs() if run.state in ("queued", "running") and datasets.trained_on(record, run.config)]
    if using:  # a run reads its pictures from the cache batch by batch, to its last epoch
        runs_words = "a run is" if len(using) == 1 else f"{len(using)} runs are"
        _say("error", f"'{record.name}' is not deleted: {runs_words} still waiting or training on its pictures. "
                      "Delete it once they have ended, or cancel them on the Runs page first.")
        return
    try:
        freed = datasets.delete_dataset(record, current_person())
    except InputError as error:  # not this person's to delete
        _say("error", str(error))
        return
    except OSError as error:
        _say("error", f"'{record.name}' could not be deleted completely. {describe_os_error(error)}")
        return
    chosen = chosen_dataset()
    if chosen is not None and chosen.dataset_id == record.id:
        forget_dataset()
    _say("success", f"Deleted '{record.name}' ({freed / 1024**2:,.1f} MB freed).")


def _share(dataset_id: str) -> None:
    record = _current(dataset_id)
    if record is not None:
        datasets.share_dataset(record, current_person(), st.session_state[f"share_{dataset_id}"])


def _say(kind: str, text: str) -> None:
    st.session_state[LIBRARY_MESSAGE] = (kind, text)


def library_message_ui() -> None:
    """What the last action in the library did, said once."""
    kind, text = st.session_state.pop(LIBRARY_MESSAGE, (None, None))
    if kind == "error":
        st.error(text)
    elif kind == "success":
        st.success(text)

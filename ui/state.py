"""What one browser tab works on between pages: the chosen dataset and target, the selected run, event logs.

Everything here belongs to the tab, never to the server, and can be lost (a refresh, a second
browser): the run folders and the datasets library on disk are the truth. The tab's choices also
live in its URL (?dataset=<id>, ?target=<id or folder>, ?run=<id>), kept there on every page, so a
reload finds them again; a new tab starts with the dataset its person used last (each person's
own). Whatever the URL names is opened on behalf of the tab's person: another student's dataset or
run in an address is as if it did not exist.
"""
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from tlcore.data import datasets
from tlcore.data.manifest import Manifest, Skipped
from tlcore.runs import EventLog
from ui.people import current_person

DATASET = "dataset"  # also the URL parameters
DATA_ERROR = "data_error"
DATASET_FORGOTTEN = "dataset_forgotten"  # the person deleted the chosen one: no other is chosen for them
TARGET = "target"
RUN_ID = "run_id"
EVENT_LOGS = "event_logs"


@dataclass
class ChosenDataset:
    """A scanned dataset the Train page trains on."""

    source: str  # the folder (or zip) that was scanned
    label: str  # its name for people
    manifest: Manifest
    upload_skipped: list[Skipped] = field(default_factory=list)  # files an upload or zip left out
    dataset_id: str | None = None  # its id in the datasets library
    note: str | None = None  # said once about how it was chosen (e.g. "already in the studio as ...")

    def size(self, split: str) -> int:
        return len(self.manifest.split(split))


@dataclass
class ChosenTarget:
    """Pictures from where the model will be used, checked against the chosen dataset's classes."""

    source: str  # the folder or zip
    label: str
    pictures: int
    labelled: int  # pictures in a folder named like one of the dataset's classes
    unknown_classes: list[str]  # their folders that name no class of the dataset
    dataset_id: str | None  # the dataset they were checked against
    key: str = ""  # what the tab's URL keeps to find them again: a library id, "demo:SHIFT" or a server folder


@dataclass
class DataProblem:
    """Why the last dataset was refused, with the files set aside on the way."""

    label: str
    message: str
    skipped: list[Skipped] = field(default_factory=list)


def chosen_dataset() -> ChosenDataset | None:
    """This tab's dataset; after a reload, the one its URL names; in a new tab, the one its person used last."""
    dataset = st.session_state.get(DATASET)
    if dataset is None and DATA_ERROR not in st.session_state and DATASET_FORGOTTEN not in st.session_state:
        dataset = _restored_dataset()
        if dataset is not None:
            st.session_state[DATASET] = dataset
    if dataset is not None:
        _keep_in_url(DATASET, dataset.dataset_id)
    return dataset


def choose_dataset(dataset: ChosenDataset) -> None:
    """This tab's dataset from now on, and its person's next new tab's."""
    st.session_state[DATASET] = dataset
    st.session_state.pop(DATA_ERROR, None)
    st.session_state.pop(DATASET_FORGOTTEN, None)
    _keep_in_url(DATASET, dataset.dataset_id)
    record = datasets.load_record(dataset.dataset_id, current_person()) if dataset.dataset_id else None
    if record is not None:
        try:
            datasets.mark_used(record, current_person())
        except OSError:  # the choice holds for this tab; only a new tab's starting point is not kept
            pass


def _keep_in_url(name: str, value: str | None) -> None:
    """The tab's choice in its address, on whichever page: a reload of any page finds it again."""
    if value and st.query_params.get(name) != value:
        st.query_params[name] = value


def chosen_target() -> ChosenTarget | None:
    """This tab's target pictures, while the dataset they were checked against is the chosen one; after a
    reload, checked again from what the URL names."""
    target: ChosenTarget | None = st.session_state.get(TARGET)
    dataset = chosen_dataset()
    if target is None and dataset is not None and st.query_params.get(TARGET):
        target = restore_target(st.query_params[TARGET], dataset)
        st.session_state[TARGET] = target
        if target is None:  # not this person's, or gone: not looked for again on every page
            del st.query_params[TARGET]
    if target is None or dataset is None or target.dataset_id != dataset.dataset_id:
        return None
    _keep_in_url(TARGET, target.key)
    return target


def choose_target(target: ChosenTarget | None) -> None:
    """Use these target pictures (None: none any more)."""
    if target is None:
        st.session_state.pop(TARGET, None)
        if TARGET in st.query_params:
            del st.query_params[TARGET]
    else:
        st.session_state[TARGET] = target
        _keep_in_url(TARGET, target.key)


def restore_target(key: str, dataset: ChosenDataset) -> ChosenTarget | None:
    """The target a reloaded tab's URL names, checked again for this tab's person (ui.target does it)."""
    from ui.target import target_from_key

    return target_from_key(key, dataset)


def forget_dataset() -> None:
    """No dataset is chosen any more (it was deleted); none is picked for the person in its place."""
    st.session_state.pop(DATASET, None)
    st.session_state[DATASET_FORGOTTEN] = True
    if DATASET in st.query_params:
        del st.query_params[DATASET]


def dataset_from_library(record: datasets.DatasetRecord) -> ChosenDataset | None:
    """A library dataset as the session's choice; None when its saved check cannot be read."""
    try:
        manifest = datasets.load_manifest(record)
    except (OSError, ValueError):
        return None
    return ChosenDataset(record.source, record.name, manifest, dataset_id=record.id)


def _restored_dataset() -> ChosenDataset | None:
    wanted = st.query_params.get(DATASET)
    person = current_person()
    record = datasets.load_record(wanted, person) if wanted else None
    if record is None or not record.available():
        record = datasets.last_used(person)
    return dataset_from_library(record) if record is not None else None


def refuse_dataset(problem: DataProblem) -> None:
    """Remember a refused dataset; the previous choice is dropped so the report never shows stale data."""
    st.session_state.pop(DATASET, None)
    st.session_state[DATA_ERROR] = problem


def data_problem() -> DataProblem | None:
    return st.session_state.get(DATA_ERROR)


def selected_run_id() -> str | None:
    """The run the person looks at: the one the URL names (a link, a reload), else this session's choice.

    Pages that show a run keep the URL in step with select_run, so the two differ only when a link
    or a typed address asked for another run.
    """
    return st.query_params.get("run") or st.session_state.get(RUN_ID)


def select_run(run_id: str) -> None:
    st.session_state[RUN_ID] = run_id
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id


def event_log(run_dir: Path) -> EventLog:
    """The run's events, read incrementally: each call reads only what was appended since the last."""
    logs = st.session_state.setdefault(EVENT_LOGS, {})
    key = str(run_dir)
    if key not in logs:
        logs[key] = EventLog(run_dir)
    logs[key].refresh()
    return logs[key]

"""What one browser session remembers between pages: the chosen dataset, the selected run, event logs.

Everything here can be lost (a refresh, a second browser): the run folders on disk are the truth,
and the selected run also lives in the URL (?run=<id>) so a reload keeps it.
"""
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from tlcore.manifest import Manifest, Skipped
from tlcore.runs import EventLog

DATASET = "dataset"
DATA_ERROR = "data_error"
RUN_ID = "run_id"
EVENT_LOGS = "event_logs"


@dataclass
class ChosenDataset:
    """A scanned dataset the Train page trains on."""

    source: str  # the folder (or zip) that was scanned
    label: str  # its name for people
    manifest: Manifest
    upload_skipped: list[Skipped] = field(default_factory=list)  # files an upload or zip left out

    def size(self, split: str) -> int:
        return len(self.manifest.split(split))


@dataclass
class DataProblem:
    """Why the last dataset was refused, with the files set aside on the way."""

    label: str
    message: str
    skipped: list[Skipped] = field(default_factory=list)


def chosen_dataset() -> ChosenDataset | None:
    return st.session_state.get(DATASET)


def choose_dataset(dataset: ChosenDataset) -> None:
    st.session_state[DATASET] = dataset
    st.session_state.pop(DATA_ERROR, None)


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

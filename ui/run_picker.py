"""One picker for "which run": it follows the URL (a link, a reload) and keeps the URL in step."""
from collections.abc import Callable

import streamlit as st

from tlcore.runs import RunSummary
from ui import format as fmt
from ui.state import select_run, selected_run_id


def run_picker_ui(runs: list[RunSummary], label: str, key: str,
                  describe: Callable[[RunSummary], str] = fmt.run_title, warn_missing: bool = True) -> RunSummary:
    """A selectbox over runs (newest first): the run the URL or this session names, else the newest.

    Args:
        runs: the runs to choose from, newest first.
        label: the selectbox's label.
        key: its widget key (one per page, so each page keeps its own widget).
        describe: a run's line in the list.
        warn_missing: say so when the URL names a run that is not in the list (a stale link).
    """
    by_id = {run.run_id: run for run in runs}
    wanted = selected_run_id()
    if warn_missing and wanted and wanted not in by_id:
        st.warning(f"There is no run '{wanted}'; showing the newest one instead.")
    current = wanted if wanted in by_id else runs[0].run_id
    key = _widget_key(key, current, describe(by_id[current]))
    if st.session_state.get(key) != current:  # a link or a new run asked for another one
        st.session_state[key] = current
    st.selectbox(label, list(by_id), key=key, format_func=lambda run_id: describe(by_id[run_id]),
                 on_change=lambda: select_run(st.session_state[key]))
    select_run(current)
    return by_id[current]


def _widget_key(key: str, run_id: str, line: str) -> str:
    """The picker's widget key: `key`, then a fresh one each time the chosen run's line changes (a rename).

    Streamlit 1.67's selectbox keeps showing the old words of the chosen option when only its
    words change; a new widget shows the new ones.
    """
    shown, version = st.session_state.get(f"_{key}_shown"), st.session_state.get(f"_{key}_version", 0)
    if shown is not None and shown[0] == run_id and shown[1] != line:
        version += 1
    st.session_state[f"_{key}_shown"], st.session_state[f"_{key}_version"] = (run_id, line), version
    return key if version == 0 else f"{key}_{version}"

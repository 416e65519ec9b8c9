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
    if st.session_state.get(key) != current:  # a link or a new run asked for another one
        st.session_state[key] = current
    st.selectbox(label, list(by_id), key=key, format_func=lambda run_id: describe(by_id[run_id]),
                 on_change=lambda: select_run(st.session_state[key]))
    select_run(current)
    return by_id[current]

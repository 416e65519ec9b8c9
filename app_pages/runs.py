"""Runs: every run with its status, one run's live view, and several runs compared."""
import streamlit as st

from tlcore import plots
from tlcore.runner import queue_places
from tlcore.runs import FINAL_STATES, RunSummary, list_runs
from ui import format as fmt
from ui.resources import get_runner
from ui.errors import shielded
from ui.run_view import run_view_ui
from ui.run_picker import run_picker_ui
from ui.state import event_log

TABLE_REFRESH_S = 3.0


def runs_table_ui() -> None:
    """The table of runs; refreshes itself while any run is queued or running."""
    busy = any(run.state not in FINAL_STATES for run in list_runs())
    st.fragment(shielded(_runs_table), run_every=TABLE_REFRESH_S if busy else None)(busy)


def _runs_table(was_busy: bool) -> None:
    runs = list_runs()
    if was_busy and all(run.state in FINAL_STATES for run in runs):
        st.rerun()  # everything finished: one full rerun, then the table stops refreshing
    places = queue_places(runs)
    st.dataframe(
        [{"run": fmt.run_name(run),
          "status": fmt.state_text(run.state, places.get(run.run_id)),
          "dataset": fmt.dataset_label(run),
          "backbone": run.config.backbone if run.config else "—",
          "strategy": run.config.strategy.replace("_", " ") if run.config else "—",
          "best accuracy": fmt.accuracy_text(run),
          "time": fmt.time_text(run),
          "id": run.run_id} for run in runs],
        hide_index=True, key="runs_table")


def compare_ui(runs: list[RunSummary]) -> None:
    st.header("Compare runs")
    titles = {run.run_id: fmt.run_title(run) for run in runs}
    picked = st.multiselect("Runs to compare", list(titles), format_func=titles.get,
                            placeholder="Pick two or more runs")
    if picked:
        curves = {titles[run_id]: event_log(get_runner().run_dir(run_id)).events for run_id in picked}
        st.plotly_chart(plots.compare_figure(curves), key="compare")


st.title("Runs")
all_runs = list_runs()
if not all_runs:
    st.info("No runs yet.")
    st.page_link("app_pages/train.py", label="Start one on the Train page", icon=":material/model_training:")
else:
    runs_table_ui()
    shown = run_picker_ui(all_runs, "Show run", key="run_picker")
    run_view_ui(shown.run_dir)
    compare_ui(all_runs)

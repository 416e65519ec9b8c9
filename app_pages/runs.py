"""Runs: every run with its status, one run's live view, and several runs compared."""
import streamlit as st

from tlcore import plots
from tlcore.runs import FINAL_STATES, RunSummary, list_runs
from ui import format as fmt
from ui.resources import get_runner
from ui.run_view import run_view_ui
from ui.state import event_log, select_run, selected_run_id

TABLE_REFRESH_S = 3.0
PICKER = "run_picker"


def runs_table_ui() -> None:
    """The table of runs; refreshes itself while any run is queued or running."""
    busy = any(run.state not in FINAL_STATES for run in list_runs())
    st.fragment(_runs_table, run_every=TABLE_REFRESH_S if busy else None)(busy)


def _runs_table(was_busy: bool) -> None:
    runs = list_runs()
    if was_busy and all(run.state in FINAL_STATES for run in runs):
        st.rerun()  # everything finished: one full rerun, then the table stops refreshing
    queue = get_runner().queued()
    st.dataframe(
        [{"run": fmt.run_name(run),
          "status": fmt.state_text(run.state, queue.index(run.run_id) + 1 if run.run_id in queue else None),
          "dataset": fmt.dataset_label(run),
          "backbone": run.config.backbone if run.config else "—",
          "strategy": run.config.strategy.replace("_", " ") if run.config else "—",
          "best accuracy": run.status.get("best_val_acc"),
          "duration": fmt.duration(fmt.run_seconds(run.status)),
          "id": run.run_id} for run in runs],
        hide_index=True, key="runs_table",
        column_config={"best accuracy": st.column_config.NumberColumn(format="percent")})


def run_picker_ui(runs: list[RunSummary]) -> RunSummary:
    """The run to show live: the one the URL or this session names, else the newest."""
    by_id = {run.run_id: run for run in runs}
    wanted = selected_run_id()
    if wanted and wanted not in by_id:
        st.warning(f"There is no run '{wanted}'; showing the newest one instead.")
    current = wanted if wanted in by_id else runs[0].run_id
    if st.session_state.get(PICKER) != current:  # a link or a new run asked for another one
        st.session_state[PICKER] = current
    st.selectbox("Show run", list(by_id), format_func=lambda run_id: fmt.run_title(by_id[run_id]),
                 key=PICKER, on_change=lambda: select_run(st.session_state[PICKER]))
    select_run(current)
    return by_id[current]


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
    shown = run_picker_ui(all_runs)
    run_view_ui(shown.run_dir)
    compare_ui(all_runs)

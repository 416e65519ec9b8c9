"""Runs: every run with its status; one run's live view, name, note and star; several runs compared."""
from dataclasses import replace

import streamlit as st

from tlcore.config import RunConfig
from tlcore.report import plots
from tlcore.report.compare import Accuracy, RunRecord, RunRow, accuracy_with_interval, compare_runs
from tlcore.errors import InputError, describe_os_error
from tlcore.people.person import may_change
from tlcore.runs.store.notes import MAX_NAME_CHARS, MAX_NOTE_CHARS, NotARunError, RunBusyError, RunNotes, \
    change_notes, delete_run
from tlcore.runs.store.owners import share_run
from tlcore.runs.supervision.dispatch import queue_waits
from tlcore.runs import FINAL_STATES, RunSummary, list_runs
from ui import format as fmt
from ui.errors import shielded
from ui.people import class_name, current_person, owner_words
from ui.resources import get_runner
from ui.run_picker import run_picker_ui
from ui.run_view import run_view_ui
from ui.state import EVENT_LOGS, RUN_ID, event_log

TABLE_REFRESH_S = 3.0
CONFIRM_DELETE = "confirm_delete"  # session key: the run whose deletion awaits a yes
MANAGE_MESSAGE = "manage_message"  # session key: (kind, text) to show after a rename or delete
COMPARED = "compare_runs"
NO_BREAK, WORD_JOINER = "\u00a0", "\u2060"  # keep "91% (86–94%)" on one line in a table cell

# Widths that fit a 1024 px window (a projector) with the sidebar open, where the table has 564 px:
# every status, network, accuracy and time fits whole, and a name of about 30 letters. A longer name
# ends in "…" (the picker below shows it whole). Wider windows share out the rest.
RUNS_COLUMNS = {
    "run": st.column_config.TextColumn("run", width=204, help="Its name: yours, or its dataset and strategy. "
                                                              "★ marks a starred run."),
    "status": st.column_config.TextColumn("status", width=100),
    "network": st.column_config.TextColumn("network", width=126,
                                           help="The pretrained network it started from (the backbone)"),
    "best": st.column_config.TextColumn("best", width=48,
                                        help="Best validation accuracy: how often it was right on pictures "
                                             "it did not train on (so far, while it trains)"),
    "time": st.column_config.TextColumn("time", width=76, help="How long it trained, or has waited in line"),
}


def runs_table_ui(runs: list[RunSummary]) -> None:
    """The table of runs (as this page run listed them); refreshes itself while any is queued or running."""
    busy = any(run.state not in FINAL_STATES for run in runs)
    st.fragment(shielded(_runs_table), run_every=TABLE_REFRESH_S if busy else None)(busy)


def _runs_table(was_busy: bool) -> None:
    runs = list_runs(person=current_person())
    if was_busy and all(run.state in FINAL_STATES for run in runs):
        st.rerun()  # everything finished: one full rerun, then the table stops refreshing
    waits = queue_waits(list_runs()) if any(run.state == "queued" for run in runs) else {}  # everyone's line
    st.dataframe(
        [{"run": ("★ " if fmt.is_starred(run) else "") + fmt.run_name(run)
          + (f" ({owner_words(run.owner)})" if class_name() and run.owner != current_person().key else ""),
          "status": fmt.state_cell(run.state, waits.get(run.run_id, (None,))[0]),
          "network": fmt.backbone_words(run.config.backbone) if run.config else "—",
          "best": fmt.accuracy_cell(run),
          "time": fmt.time_cell(run)} for run in runs],
        hide_index=True, key="runs_table", column_config=RUNS_COLUMNS)


# -- rename, note, star, delete ---------------------------------------------------------------------

def manage_message_ui() -> None:
    """What the last rename or delete did, once."""
    message = st.session_state.pop(MANAGE_MESSAGE, None)
    if message:
        kind, text = message
        {"toast": st.toast, "success": st.success, "warning": st.warning}.get(kind, st.error)(text)


def manage_ui(run: RunSummary) -> None:
    """Rename the shown run, write a note on it, star it, or delete it (when it is this person's to change);
    on a class server, the teacher also shares it with the class."""
    person = current_person()
    if class_name() and person.is_teacher:
        st.toggle("Share this run with the class (students see it and can start from it, read-only)",
                  value=run.shared, key=f"share_{run.run_id}", on_change=_share, args=(run,))
    if not may_change(person, run.owner):
        st.caption("Shared with the class by your teacher: look at it, try it and start from it.")
        return
    with st.expander("Rename, add a note, star or delete this run", icon=":material/edit:"):
        notes = run.notes or RunNotes()
        with st.form(key=f"notes_form_{run.run_id}", border=False):
            st.text_input("Name", value=notes.name, key=f"name_{run.run_id}", max_chars=MAX_NAME_CHARS,
                          placeholder=fmt.run_name(replace(run, notes=None)),
                          help="Leave it empty to go back to the name the studio gives it.")
            st.text_area("Note", value=notes.note, key=f"note_{run.run_id}", max_chars=MAX_NOTE_CHARS,
                         placeholder="What you tried, what you noticed…", height=80)
            st.checkbox("Star it (mark it as one to remember)", value=notes.starred, key=f"star_{run.run_id}")
            st.form_submit_button("Save", icon=":material/save:", on_click=_save_notes, args=(run,))
        delete_ui(run)


def _save_notes(run: RunSummary) -> None:
    notes = RunNotes(name=st.session_state[f"name_{run.run_id}"], note=st.session_state[f"note_{run.run_id}"],
                     starred=st.session_state[f"star_{run.run_id}"])
    try:
        notes = change_notes(run.run_dir, notes, current_person())
    except InputError as error:  # not this person's to change (shared by the teacher, or no longer visible)
        st.session_state[MANAGE_MESSAGE] = ("error", str(error))
        return
    except OSError as error:
        st.session_state[MANAGE_MESSAGE] = ("error", describe_os_error(error))
    else:
        st.session_state[MANAGE_MESSAGE] = ("toast", f"Saved: {fmt.run_name(replace(run, notes=notes))}.")


def delete_ui(run: RunSummary) -> None:
    """A delete button, then a question that must be answered before anything is removed."""
    if st.session_state.get(CONFIRM_DELETE) != run.run_id:
        st.button("Delete this run…", key=f"delete_{run.run_id}", icon=":material/delete:",
                  on_click=_ask_to_delete, args=(run.run_id,))
        return
    name = fmt.run_name(run)
    if run.state not in FINAL_STATES:
        st.warning(f"**{name}** is still {run.state}, and its training process writes into its folder. "
                   "Cancel it first; once it has stopped, it can be deleted.")
        cancel, keep = st.columns(2)
        cancel.button("Cancel the run", key=f"cancel_to_delete_{run.run_id}", icon=":material/stop_circle:",
                      on_click=get_runner().cancel, args=(run.run_id, current_person()))
    else:
        st.warning(f"Delete **{name}** for good? Its trained model, curves, settings and note are removed "
                   "from the disk. This cannot be undone.")
        delete, keep = st.columns(2)
        delete.button("Delete for good", key=f"delete_yes_{run.run_id}", type="primary",
                      icon=":material/delete_forever:", on_click=_delete, args=(run, name))
    keep.button("Keep it", key=f"delete_no_{run.run_id}", on_click=_ask_to_delete, args=(None,))


def _share(run: RunSummary) -> None:
    share_run(run.run_dir, current_person(), st.session_state[f"share_{run.run_id}"])


def _ask_to_delete(run_id: str | None) -> None:
    st.session_state[CONFIRM_DELETE] = run_id


def _delete(run: RunSummary, name: str) -> None:
    st.session_state.pop(CONFIRM_DELETE, None)
    try:
        delete_run(run.run_dir, person=current_person())
    except (RunBusyError, NotARunError, InputError) as error:
        st.session_state[MANAGE_MESSAGE] = ("warning", str(error))
        return
    except OSError as error:
        st.session_state[MANAGE_MESSAGE] = ("error", f"The run could not be deleted: {describe_os_error(error)}")
        return
    st.session_state[MANAGE_MESSAGE] = ("success", f"Deleted {name}.")
    st.session_state.get(EVENT_LOGS, {}).pop(str(run.run_dir), None)
    if st.session_state.get(RUN_ID) == run.run_id:
        del st.session_state[RUN_ID]
    if st.query_params.get("run") == run.run_id:
        del st.query_params["run"]


# -- compare ----------------------------------------------------------------------------------------

def compare_ui(runs: list[RunSummary]) -> None:
    st.header("Compare runs")
    titles = {run.run_id: fmt.run_title(run) for run in runs}
    picked_before = st.session_state.get(COMPARED, [])
    if any(run_id not in titles for run_id in picked_before):  # a run deleted since it was picked
        # Only then: a value set here is sent to the browser and would undo a choice made meanwhile.
        st.session_state[COMPARED] = [run_id for run_id in picked_before if run_id in titles]
    picked = st.multiselect("Runs to compare", list(titles), format_func=titles.get, key=COMPARED,
                            placeholder="Pick two or more runs")
    if not picked:
        return
    by_id = {run.run_id: run for run in runs}
    chosen = [by_id[run_id] for run_id in picked]
    labels = _unique_labels(chosen)
    events = {run.run_id: event_log(run.run_dir).events for run in chosen}
    comparison = compare_runs([RunRecord(labels[run.run_id], events[run.run_id], run.status) for run in chosen])
    verdict = comparison.verdict
    # A static table: its cells wrap, so it fits a projector's 1024 px with any number of runs.
    with_target = any(row.target is not None for row in comparison.rows)
    # Its own column when one of them has another last layer than the usual one: it may be the difference.
    with_head = any(run.config is not None and run.config.head != RunConfig.head for run in chosen)
    st.table([_compare_row(run, row, row.label == verdict.winner, with_target, with_head)
              for run, row in zip(chosen, comparison.rows)], hide_index=True)
    (st.success if verdict.winner else st.info)(verdict.text)
    if not verdict.same_pictures:
        st.warning("These runs were checked on different validation pictures, so comparing them is rough.")
    st.caption("The range after each accuracy is where the true accuracy most likely lies (a 95% confidence "
               "interval, Wilson's): the fewer validation pictures, the wider it is. A run is named best only "
               "when its range lies wholly above the others'. The best round was picked with these same "
               "pictures, which flatters its accuracy a little.")
    bars, curves = st.columns(2)
    bars.plotly_chart(plots.accuracy_bars_figure({row.label: _bars(row) for row in comparison.rows}),
                      key="compare_bars")
    curves.plotly_chart(plots.compare_figure({labels[run.run_id]: events[run.run_id] for run in chosen}),
                        key="compare")


def _unique_labels(runs: list[RunSummary]) -> dict[str, str]:
    """Run id -> name; two runs a person named alike are told apart by their folder's name (the run id)."""
    names = {run.run_id: fmt.run_name(run) for run in runs}
    repeated = {name for name in names.values() if list(names.values()).count(name) > 1}
    return {run_id: f"{name} · {run_id}" if name in repeated else name for run_id, name in names.items()}


def _compare_row(run: RunSummary, row: RunRow, winner: bool, with_target: bool = False,
                 with_head: bool = False) -> dict:
    config = run.config
    so_far = " so far" if run.state == "running" and row.best else ""
    target = {"accuracy where it will be used": _accuracy_cell(row.target) if row.target else "not measured"} \
        if with_target else {}
    return {"run": f"**{row.label}** (best)" if winner else row.label,
            "strategy": fmt.strategy_words(config.strategy) if config else "—",
            **({"last layer (head)": fmt.head_words(config.head) if config else "—"} if with_head else {}),
            "network (backbone)": fmt.backbone_words(config.backbone) if config else "—",
            "pictures (train / validation)": "—" if row.val_pictures is None
            else f"{row.train_pictures if row.train_pictures is not None else '?'} / {row.val_pictures}",
            "accuracy: best round": _accuracy_cell(row.best) + so_far,
            "accuracy: last round": _accuracy_cell(row.final) + so_far,
            **target,
            "time": fmt.time_text(run)}


def _accuracy_cell(accuracy: Accuracy | None) -> str:
    if accuracy is None:
        return "no round finished"
    return accuracy_with_interval(accuracy).replace(" ", NO_BREAK).replace("–", "–" + WORD_JOINER)


def _bars(row: RunRow) -> dict[str, tuple[float, float, float]]:
    measures = {"best round": row.best, "last round": row.final}
    return {name: (accuracy.value, *accuracy.interval) for name, accuracy in measures.items() if accuracy}


st.title("Runs")
manage_message_ui()
all_runs = list_runs(person=current_person())
if not all_runs:
    st.info("No runs yet.")
    st.page_link("app_pages/train.py", label="Start one on the Train page", icon=":material/model_training:")
else:
    runs_table_ui(all_runs)
    shown = run_picker_ui(all_runs, "Show run", key="run_picker")
    shielded(manage_ui)(shown)
    run_view_ui(shown.run_dir)
    compare_ui(all_runs)

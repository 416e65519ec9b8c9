"""The class, for its teacher: everyone's runs, the leaderboard, the lesson's rules, the students, a reset.

Only the teacher's navigation has this page; every action below is the engine's, which refuses it to
anyone else (tlcore.classroom, tlcore.people).
"""

import streamlit as st

from tlcore.classroom.leaderboard import kept_by_a_teacher, leaderboard, scores, set_test_set, test_set
from tlcore.classroom.reset import reset_class
from tlcore.classroom.roster_runs import class_runs, result_rows, results_csv
from tlcore.data.datasets import list_datasets
from tlcore.errors import InputError
from tlcore.people import roster
from tlcore.runs import FINAL_STATES
from ui import format as fmt
from ui.errors import shielded
from ui.people import class_name, current_person
from ui.teacher_rules import rules_form_ui

TABLE_REFRESH_S = 3.0
CONFIRM_RESET = "confirm_reset"
TEST_SET_CHOICE = "test_set_choice"
PAGE_MESSAGE = "class_page_message"
NEW_LINKS = "new_join_links"


def runs_ui() -> None:
    st.header("Everyone's runs")
    runs = class_runs(class_name(), current_person())
    busy = any(run.state not in FINAL_STATES for run in runs)
    st.fragment(shielded(_runs_table), run_every=TABLE_REFRESH_S if busy else None)()


def _runs_table() -> None:
    runs = class_runs(class_name(), current_person())
    rows = result_rows(runs, scores(class_name()))
    if not rows:
        st.info("No runs yet: the students' runs appear here as they start them.")
        return
    names = {run.run_id: fmt.run_name(run) for run in runs}
    st.dataframe([{"student": r["student"], "run": names[r["run_id"]], "dataset": r["dataset"],
                   "way of training": fmt.strategy_words(r["strategy"]), "network": fmt.backbone_words(r["network"]),
                   "state": fmt.state_cell(r["state"]),
                   "accuracy": fmt.percent(r["best_val_acc"]) if r["best_val_acc"] is not None else "—",
                   "test set": fmt.percent(r["test_acc"]) if r["test_acc"] is not None else "—",
                   "time": fmt.duration(r["seconds"]) if r["seconds"] else "—"} for r in rows],
                 hide_index=True, key="class_runs_table")
    st.download_button("Download the class's results (CSV)", results_csv(rows), mime="text/csv",
                       file_name=f"{class_name()}-results.csv", icon=":material/download:", key="class_results_csv")


def leaderboard_ui() -> None:
    st.header("Leaderboard")
    st.caption("Every finished run is scored on a test set that you keep: one of your datasets, never shown to the "
               "students. Scoring happens in the background, a run at a time.")
    teacher = current_person()
    kept = {r.id: r.name for r in list_datasets(teacher) if kept_by_a_teacher(r)}
    current = test_set(class_name())
    options = [None, *kept]
    st.selectbox("Test set", options, index=options.index(current.id) if current and current.id in kept else 0,
                 format_func=lambda i: "none" if i is None else kept[i], key=TEST_SET_CHOICE,
                 on_change=_choose_test_set)
    rows = leaderboard(class_name(), teacher)
    if current is not None and not rows:
        st.info("No run has been scored on it yet.")
    if rows:
        names = {run.run_id: fmt.run_name(run) for run in class_runs(class_name(), teacher)}
        st.dataframe([{"place": place, "student": row["student"], "run": names.get(row["run_id"], row["run_id"]),
                       "accuracy on the test set": fmt.percent(row["accuracy"]), "pictures": row["pictures"]}
                      for place, row in enumerate(rows, start=1)], hide_index=True, key="leaderboard_table")


def _choose_test_set() -> None:
    """Only when the teacher picks one: drawing the page never changes the test set."""
    try:
        set_test_set(class_name(), st.session_state[TEST_SET_CHOICE], current_person())
    except InputError as error:
        st.session_state[PAGE_MESSAGE] = str(error)


def students_ui() -> None:
    st.header("Students")
    members = roster.class_members(class_name())
    st.markdown(", ".join(members["students"]) or "No students yet.")
    links = st.session_state.pop(NEW_LINKS, None)
    if links:
        st.success("Their join links, shown this once (the studio keeps no copy): "
                   + ", ".join(f"{name}: `{link}`" for name, link in links.items()))
    with st.form("add_students", border=False):
        names = st.text_input("Add students (names separated by commas)", key="new_students")
        if st.form_submit_button("Add them", icon=":material/person_add:"):
            try:
                added = roster.add_students(class_name(), [n for n in names.split(",") if n.strip()],
                                            by=current_person())
            except InputError as error:
                st.error(str(error))
            else:
                st.session_state[NEW_LINKS] = added["students"]
                st.rerun()


def reset_ui() -> None:
    st.header("Between two classes")
    if not st.session_state.get(CONFIRM_RESET):
        st.button("Reset the class…", icon=":material/restart_alt:", key="reset_class",
                  on_click=lambda: st.session_state.update({CONFIRM_RESET: True}))
        return
    st.warning("Archive every student's runs, experiments and datasets? They leave every list (yours too) and are "
               "kept in the class's archive folder on the server; your own work, the students and the rules stay.")
    yes, no = st.columns(2)
    if yes.button("Archive the students' work", type="primary", key="reset_yes"):
        st.session_state.pop(CONFIRM_RESET, None)
        try:
            moved = reset_class(class_name(), current_person())
        except InputError as error:
            st.error(str(error))
        else:
            st.success(f"Archived {moved['runs']} runs, {moved['experiments']} experiments and {moved['datasets']} "
                       f"datasets in {moved['archive']}.")
    no.button("Keep everything", key="reset_no", on_click=lambda: st.session_state.pop(CONFIRM_RESET, None))


st.title(f"Class {class_name()}")
if message := st.session_state.pop(PAGE_MESSAGE, None):
    st.error(message)
runs_ui()
leaderboard_ui()
rules_form_ui(class_name())
students_ui()
reset_ui()

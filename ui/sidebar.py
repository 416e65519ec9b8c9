"""The sidebar on every page: who is signed in (a class server), the device, and the person's runs in progress."""
import streamlit as st

from tlcore.runs import list_runs
from tlcore.runs.supervision.dispatch import queue_waits
from ui import format as fmt
from ui.errors import shielded
from ui.people import class_name, current_person, sign_out
from ui.progress import progress_text, refresh_every
from ui.resources import device_info, engine_ready, start_engine


ENGINE_SHOWN = "sidebar_engine_shown"  # the page was drawn once with the engine in
IDLE_REFRESH_S = 10.0  # with nothing training, only a run started elsewhere (a tab, the CLI) is looked for


def sidebar_ui() -> None:
    """The device, and the run in progress: redrawn with the page's live view while a run trains.

    While nothing trains the sidebar looks rarely: redrawing it every second and a half would also
    close any list a person has open on the page.
    """
    with st.sidebar:
        if class_name():
            person_ui()
        device_ui()
        pace = _pace(list_runs(person=current_person()))
        st.fragment(shielded(active_run_ui), run_every=pace)(pace)


def _pace(runs) -> float:
    return refresh_every({run.state for run in runs}) or IDLE_REFRESH_S


def person_ui() -> None:
    person = current_person()
    role = "teacher" if person.is_teacher else "student"
    st.markdown(f":material/person: **{person.name}** · {role} · class {person.class_name}")
    st.button("Sign out", key="sign_out", icon=":material/logout:", on_click=sign_out)


def device_ui() -> None:
    if not engine_ready():  # the device is known once torch is in; the first page does not wait for it
        st.caption("Looking for a GPU…")
        return
    st.session_state[ENGINE_SHOWN] = True
    info = device_info()
    gpu = info["kind"] != "cpu"
    st.markdown(f"{':material/bolt:' if gpu else ':material/memory:'} **{info['label']}**")
    st.caption(f"Trains on {info['name']}" + ("." if gpu else "; no GPU was found."))


def active_run_ui(was_pace: float) -> None:
    start_engine()  # the runner again, should a cleared cache have dropped it
    if engine_ready() and not st.session_state.get(ENGINE_SHOWN):
        st.session_state[ENGINE_SHOWN] = True
        st.rerun()  # once: the device and the runs' words, which the first draw did without
    runs = list_runs(person=current_person())
    if _pace(runs) != was_pace:
        st.rerun()  # a run was queued, started or every run ended: the whole page (and this pace) follows
    running = [r for r in runs if r.state == "running"]
    waiting = [r for r in runs if r.state == "queued"]
    next_words = ""
    if waiting and engine_ready():  # placing a run asks torch for the device: never before it is imported
        waits = queue_waits(list_runs())  # everyone's line, in class mode too: turns are taken across people
        place, starts_in = min((waits[r.run_id] for r in waiting if r.run_id in waits), default=(None, None),
                               key=lambda wait: wait[0])
        next_words = f" The next: {fmt.state_text('queued', place, starts_in)}." if place else ""
    if not running:
        st.caption("No run in progress." + (f" {len(waiting)} waiting.{next_words}" if waiting else ""))
        return
    for run in running:
        fraction, text = progress_text(run.status)
        st.markdown(f"**Training:** {fmt.run_name(run)}")
        st.progress(min(max(fraction, 0.0), 1.0), text=text)
        st.page_link("app_pages/runs.py", label="Watch it live", icon=":material/monitoring:",
                     query_params={"run": run.run_id})
    if waiting:
        st.caption(f"{len(waiting)} more waiting in the queue.{next_words}")

"""The sidebar on every page: the device, and the run in progress with its progress."""
import streamlit as st

from tlcore.runs import list_runs
from ui import format as fmt
from ui.errors import shielded
from ui.progress import LIVE_REFRESH_S, progress_text
from ui.resources import device_info


def sidebar_ui() -> None:
    with st.sidebar:
        device_ui()
        st.fragment(shielded(active_run_ui), run_every=LIVE_REFRESH_S)()


def device_ui() -> None:
    info = device_info()
    gpu = info["kind"] != "cpu"
    st.markdown(f"{':material/bolt:' if gpu else ':material/memory:'} **{info['label']}**")
    st.caption(f"Trains on {info['name']}" + ("." if gpu else "; no GPU was found."))


def active_run_ui() -> None:
    runs = list_runs()
    running = [r for r in runs if r.state == "running"]
    waiting = sum(1 for r in runs if r.state == "queued")
    if not running:
        st.caption("No run in progress." + (f" {waiting} waiting." if waiting else ""))
        return
    for run in running:
        fraction, text = progress_text(run.status)
        st.markdown(f"**Training:** {fmt.run_name(run)}")
        st.progress(min(max(fraction, 0.0), 1.0), text=text)
        st.page_link("app_pages/runs.py", label="Watch it live", icon=":material/monitoring:",
                     query_params={"run": run.run_id})
    if waiting:
        st.caption(f"{waiting} more waiting in the queue.")

#!/usr/bin/env python3
"""Issue 5, item 5: how long a rerun of the Runs page takes while a run trains, against no run training.

usage: .venv/bin/python bench/ui_rerun.py [--reruns 20] [--warmup 3] [--image-size 64] [--device auto]

Drives app.py with Streamlit's AppTest (as tests/test_app_pages.py does) in a fresh studio home
(TLSTUDIO_HOME, TLSTUDIO_OFFLINE=1), on the Runs page named in app.py's st.navigation. Times
AppTest.run() (one full script rerun: frame, sidebar, runs table, live view, compare) in states:
  empty     no runs at all ("No runs yet.": a much lighter page, shown for scale);
  finished  a finished fine_tune run selected (?run=ID), measured before and after the live state;
  live      a real run in progress, started through tlcore.runner.Runner (fine_tune, 1000 epochs, so
            it keeps training) and selected, after its first body epoch (curves and confusion exist).
The training worker competes with the page for the CPU, as it does for a user. Median of --reruns
each, after --warmup untimed reruns. Target: live / finished at most 1.5.
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, ensure_fmnist, markdown_table, median, print_header, resolve_device

WAIT_S = 900


def runs_page() -> str:
    """The Runs page's path as app.py registers it, e.g. app_pages/runs.py."""
    found = re.findall(r"""st\.Page\(\s*["']([^"']*runs\.py)["']""", (ROOT / "app.py").read_text())
    for page in found + ["app_pages/runs.py", "pages/runs.py"]:
        if (ROOT / page).is_file():
            return page
    raise SystemExit("No Runs page: expected app.py to register st.Page('<folder>/runs.py') and that file "
                     "to exist (it shows the runs table and the selected run's live view).")


def rerun_times(page: str, run_id: str | None, reruns: int, warmup: int) -> tuple[list[float], dict]:
    """Seconds of each timed AppTest.run() of the page, and what the last rerun showed."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if run_id:
        at.query_params["run"] = run_id
    at.run()
    at.switch_page(page).run()
    times = []
    for index in range(warmup + reruns):
        started = time.perf_counter()
        at.run()
        if index >= warmup:
            times.append(time.perf_counter() - started)
        if at.exception:
            raise SystemExit(f"The Runs page raised an exception:\n{at.exception[0].value}")
        if not at.title or at.title[0].value != "Runs":
            raise SystemExit(f"Expected the Runs page after a rerun, got {[t.value for t in at.title]}.")
    shown = {"charts": len(at.get("plotly_chart")), "progress_bars": len(at.get("progress")),
             "dataframes": len(at.dataframe), "subheader": at.subheader[0].value if at.subheader else None}
    return times, shown


def wait_for_epochs(run_dir: Path, epochs: int) -> None:
    from tlcore.runs import FINAL_STATES, RunFolder

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = RunFolder(run_dir).read_status()
        if status.get("state") in FINAL_STATES:
            raise SystemExit(f"The run ended as {status.get('state')} before the measurement: {status.get('error')}")
        events = (run_dir / "events.jsonl").read_text().splitlines() if (run_dir / "events.jsonl").exists() else []
        if sum(json.loads(e).get("type") == "epoch" for e in events) >= epochs:
            return
        time.sleep(1)
    raise SystemExit(f"No {epochs} epochs within {WAIT_S} s; is the machine very busy?")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reruns", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64, help="of the training runs")
    parser.add_argument("--device", default="auto", help="of the training runs")
    args = parser.parse_args()
    page = runs_page()
    home = tempfile.TemporaryDirectory(prefix="tlstudio-bench-ui-")
    os.environ.update(TLSTUDIO_HOME=str(Path(home.name) / "studio"), TLSTUDIO_ALLOWED_ROOTS=home.name,
                      TLSTUDIO_OFFLINE="1")
    device = resolve_device(args.device)
    print_header("UI: Runs page rerun while a run trains", device, dict(vars(args), page=page))
    import streamlit as st
    from tlcore import paths
    from tlcore.config import RunConfig
    from tlcore.runs.supervision.runner import Runner

    data = ensure_fmnist(40, 100)
    config = RunConfig(data=str(data), strategy="fine_tune", head_epochs=1, epochs=2, image_size=args.image_size,
                       device=device)
    runner = Runner(paths.runs_dir(), poll_s=0.2).start()
    samples: dict[str, list[float]] = {}
    try:
        def measure(state: str, run_id: str | None) -> None:
            times, shown = rerun_times(page, run_id, args.reruns, args.warmup)
            samples.setdefault(state.split(" ")[0], []).extend(times)
            emit(item="ui_rerun", what=state, run_id=run_id, median_s=round(median(times), 4),
                 times_s=[round(t, 4) for t in times], shown=shown)

        measure("empty", None)
        finished = runner.submit(config)
        final = runner.wait(finished, timeout=WAIT_S)
        if final.get("state") != "succeeded":
            raise SystemExit(f"The short run {final.get('state')}: {final.get('error')}")
        measure("finished (before)", finished)
        live = runner.submit(config.replace(epochs=1000))
        wait_for_epochs(runner.run_dir(live), epochs=2)  # the head epoch and the first body epoch
        measure("live", live)
        runner.cancel(live)
        runner.wait(live, timeout=120)
        measure("finished (after)", finished)
    finally:
        runner.stop(cancel_running=True)
        st.cache_resource.clear()  # stops the app's own runner for this home
        home.cleanup()

    live_s, finished_s, empty_s = (median(samples[k]) for k in ("live", "finished", "empty"))
    print()
    print(markdown_table(["Runs page state", "reruns", "median s per rerun", "vs finished run"], [
        ["no runs (empty page)", len(samples["empty"]), f"{empty_s:.3f}", f"{empty_s / finished_s:.2f}"],
        ["a finished run selected", len(samples["finished"]), f"{finished_s:.3f}", "1.00"],
        ["a run in progress selected", len(samples["live"]), f"{live_s:.3f}", f"{live_s / finished_s:.2f}"]]))
    print(f"\nlive / finished = {live_s / finished_s:.2f} (target at most 1.5); "
          f"live / empty = {live_s / empty_s:.2f}")


if __name__ == "__main__":
    sys.exit(main())

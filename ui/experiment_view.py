"""One experiment's view, rebuilt from its folder: progress while its runs train, then the verdict,
the figures, the table, what failed and why, and the report to download."""
import io
import zipfile
from pathlib import Path

import streamlit as st

from tlcore.report import experiment_report as report
from tlcore.runs import FINAL_STATES
from tlcore.runs.experiments.queue import cancel_experiment, cell_name
from tlcore.runs.experiments.grid import (Experiment, cell_state, is_finished, load_experiment, results,
                                     training_pictures)
from tlcore.runs.store.folder import resolve_runs_dir
from ui import format as fmt
from ui.auto_choice import auto_verdict_ui
from ui.errors import shielded
from ui.progress import LIVE_REFRESH_S
from ui.resources import get_runner
from tlcore.people.person import may_change
from ui.people import current_person

REPORT_FILE = "report.html"
STATE_WORDS = {"succeeded": "finished", "failed": "failed", "cancelled": "cancelled", "interrupted": "interrupted",
               "refused": "could not start", "waiting": "waiting", "queued": "in line", "running": "training"}


def experiment_view_ui(folder: Path) -> None:
    """The view of one experiment; refreshes itself while any of its runs is not finished."""
    live = not is_finished(load_experiment(folder))
    st.fragment(shielded(_view), run_every=LIVE_REFRESH_S * 2 if live else None)(str(folder), live)


def _view(folder: str, was_live: bool) -> None:
    experiment = load_experiment(folder)
    finished = is_finished(experiment)
    if was_live and finished:
        st.rerun()  # one full rerun with the final figures, after which the view stops refreshing
    rows = results(experiment)
    header_ui(experiment)
    if experiment.auto:
        auto_verdict_ui(experiment)
    if not finished:
        progress_ui(experiment, rows)
    if any(row["state"] == "succeeded" for row in rows):
        results_ui(experiment, rows, finished)
    problems_ui(rows)
    runs_ui(experiment, rows)


def header_ui(experiment: Experiment) -> None:
    st.subheader(experiment.name or f"Experiment on {experiment.dataset_label or Path(experiment.data).name}")
    sizes = ", ".join(report.size_words(s) for s in experiment.sizes)
    st.caption(f"{len(experiment.arms)} ways of training × {sizes} × {experiment.seeds} "
               f"seed{'s' * (experiment.seeds > 1)} = {len(experiment.cells)} runs · all measured on the same "
               f"validation pictures · experiment `{experiment.experiment_id}`")
    for note in experiment.notes:
        st.info(note)


def progress_ui(experiment: Experiment, rows: list[dict]) -> None:
    done = sum(row["state"] in (*FINAL_STATES, "refused") for row in rows)
    running = next((c for c, r in zip(experiment.cells, rows) if r["state"] == "running"), None)
    waiting_for_source = experiment.source_run and all(r["state"] == "waiting" for r in rows)
    if experiment.cancelled:
        text = f"Cancelled: {done} of {len(rows)} runs ended; the rest will not start."
    elif waiting_for_source:
        text = f"First the source network trains (run {experiment.source_run}); then the {len(rows)} runs."
    else:
        now = f" · now: {cell_name(experiment, running)}" if running else ""
        text = f"{done} of {len(rows)} runs done{now}"
    st.progress(done / max(len(rows), 1), text=text)
    if not experiment.cancelled and may_change(current_person(), experiment.owner):
        st.button("Cancel the rest of this experiment", icon=":material/stop_circle:",
                  key=f"cancel_experiment_{experiment.experiment_id}", on_click=_cancel, args=(experiment.folder,))


def _cancel(folder: Path) -> None:
    experiment = load_experiment(folder)
    runner, person = get_runner(), current_person()
    if experiment.source_run:
        runner.cancel(experiment.source_run, person)
    cancel_experiment(experiment, runner.cancel, person=person)


def results_ui(experiment: Experiment, rows: list[dict], finished: bool) -> None:
    pictures = training_pictures(experiment)
    st.markdown("**What the numbers say**" + ("" if finished else " (so far)"))
    st.markdown("\n".join(f"- {sentence}" for sentence in report.verdict(rows, pictures)))
    header, body = report.results_table(rows, pictures)
    st.dataframe([dict(zip(header, row)) for row in body], hide_index=True,
                 key=f"experiment_table_{experiment.experiment_id}")
    st.caption("Best validation accuracy, mean (lowest–highest over seeds).")
    figures = report.figures(rows, pictures)
    for pair in [list(figures.items())[i:i + 2] for i in range(0, len(figures), 2)]:
        for column, (name, figure) in zip(st.columns(2), pair):
            column.plotly_chart(figure, key=f"{name}_{experiment.experiment_id}")
    if finished:
        downloads_ui(experiment, rows, pictures)


def downloads_ui(experiment: Experiment, rows: list[dict], pictures: dict[int, int]) -> None:
    """The report (written once, when the experiment has finished) and its PNG figures."""
    path = experiment.folder / REPORT_FILE
    figures_dir = path.with_name(path.stem + "_figures")
    if not path.is_file():
        with st.spinner("Writing the report…"):
            written = report.write_report(path, title=experiment.name or "Experiment", rows=rows, pictures=pictures,
                                          notes=experiment.notes, facts=report_facts(experiment))
        if written["png_problem"]:
            st.warning(written["png_problem"])
    left, right = st.columns(2)
    left.download_button("Download the report (HTML)", path.read_bytes(), file_name=f"{experiment.experiment_id}.html",
                         mime="text/html", icon=":material/download:", key=f"report_{experiment.experiment_id}")
    pngs = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    if not pngs:
        right.caption("No PNG figures: drawing them needs Chrome or Chromium on the computer that runs the studio. "
                      "The HTML report has every figure.")
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for png in pngs:
                archive.write(png, png.name)
        right.download_button("Download the figures (PNG)", buffer.getvalue(),
                              file_name=f"{experiment.experiment_id}-figures.zip", mime="application/zip",
                              icon=":material/image:", key=f"figures_{experiment.experiment_id}")


def report_facts(experiment: Experiment) -> list[str]:
    image_size = experiment.base.get("image_size", 128)
    return [f"dataset {experiment.dataset_label or Path(experiment.data).name}", f"{image_size} px",
            f"{experiment.seeds} seed{'s' * (experiment.seeds > 1)}",
            "sizes: " + ", ".join(report.size_words(s) for s in experiment.sizes)]


def problems_ui(rows: list[dict]) -> None:
    failed = [row for row in rows if row["state"] in ("failed", "refused", "interrupted")]
    if failed:
        st.warning(f"{len(failed)} run{'s' * (len(failed) != 1)} did not finish; the others went on.")
        st.dataframe([{"way of training": r["arm"], "size": report.size_words(r["per_class"]), "seed": r["seed"],
                       "why": r["error"] or STATE_WORDS[r["state"]]} for r in failed], hide_index=True)


def runs_ui(experiment: Experiment, rows: list[dict]) -> None:
    with st.expander(f"The {len(rows)} runs (each opens on the Runs page)"):
        runs_dir = resolve_runs_dir(None)
        for cell, row in zip(experiment.cells, rows):
            words = (f"{cell_name(experiment, cell)} · {STATE_WORDS.get(cell_state(cell, runs_dir), row['state'])}"
                     + (f" · {fmt.percent(row['best_val_acc'])}" if row["best_val_acc"] is not None else ""))
            if cell.run_id:
                st.page_link("app_pages/runs.py", label=words, query_params={"run": cell.run_id})
            else:
                st.markdown(words)

#!/usr/bin/env python3
"""Issue 17: the UI after a term of use. The Runs page with 200 runs in the store and the Data page with a
60,000-picture dataset chosen, each against its light case (an empty store, a small dataset): seconds per
AppTest rerun, median of --reruns after --warmup untimed ones.

usage: .venv/bin/python bench/ui_scale.py [--runs 200] [--pictures-per-class 6000] [--reruns 10]

The 200 runs are copies of one real finished run (feature extraction on Fashion-MNIST 5-9) under new
ids: what the pages read of each run (status, config, events) is real and of the usual size. The large
dataset is the whole Fashion-MNIST training set written as PNG files (bench/make_fmnist.py, 10 classes x
6,000, one folder per class; the studio keeps a fifth for validation); choosing it scans it once (ingest, reported apart), and the
reruns after that are what a person waits for.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, ensure_fmnist, markdown_table, median, print_header, run_json

APP = str(ROOT / "app.py")


def rerun_seconds(page: str, reruns: int, warmup: int, folder: Path | None = None,
                  run_id: str | None = None) -> list[float]:
    """Seconds of each timed rerun of a page, after choosing a server folder on the Data page if given."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=1800)
    if run_id:
        at.query_params["run"] = run_id
    at.run()
    if folder is not None:
        at.switch_page("app_pages/data.py").run()
        at.text_input(key="server_path_text").set_value(str(folder))
        started = time.perf_counter()
        next(b for b in at.button if b.label == "Use this folder").click().run()
        emit(item="choose_folder", folder=folder.name, seconds=round(time.perf_counter() - started, 2))
    at.switch_page(page).run()
    times = []
    for index in range(warmup + reruns):
        started = time.perf_counter()
        at.run()
        if at.exception:
            raise SystemExit(f"{page} raised an exception:\n{at.exception[0].value}")
        if index >= warmup:
            times.append(time.perf_counter() - started)
    return times


def fill_store(runs_dir: Path, source: Path, count: int) -> list[str]:
    """count runs in the store: the source run and copies of it under new, distinct ids."""
    ids = [source.name]
    for index in range(count - 1):
        run_id = f"20260101-{index // 3600:02d}{index // 60 % 60:02d}{index % 60:02d}-mobilenet_v2-feature_extraction-c{index:03d}"
        shutil.copytree(source, runs_dir / run_id, ignore=shutil.ignore_patterns("model_*.pt"))
        ids.append(run_id)
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--pictures-per-class", type=int, default=6000, help="of the large dataset, 10 classes")
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs-page-only", action="store_true", help="leave out the Data page and its ingest")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="tlstudio-bench-ui-scale-")
    home = Path(scratch.name) / "studio"
    # No standby worker and the engine imported first: the reruns timed are the pages' own work.
    os.environ.update(TLSTUDIO_HOME=str(home), TLSTUDIO_ALLOWED_ROOTS="/", TLSTUDIO_OFFLINE="1",
                      TLSTUDIO_WARM_WORKER="0")
    import torch  # noqa: F401  (the engine in, as after the app's background import)
    print_header("UI: the Runs and Data pages after a term of use", "cpu", vars(args))
    import streamlit as st

    small = ensure_fmnist(40, 100)
    # Its train/ folder alone: one sub-folder per class, which the studio splits for validation itself.
    large = None if args.runs_page_only else \
        ensure_fmnist(args.pictures_per_class, 1, classes="0,1,2,3,4,5,6,7,8,9") / "train"
    table = []
    try:
        empty = median(rerun_seconds("app_pages/runs.py", args.reruns, args.warmup))
        first = run_json([sys.executable, "-m", "tlcore", "train", small, "--quiet"], dict(os.environ))
        ids = fill_store(home / "runs", Path(first["run_dir"]), args.runs)
        listed = median(rerun_seconds("app_pages/runs.py", args.reruns, args.warmup))
        selected = median(rerun_seconds("app_pages/runs.py", args.reruns, args.warmup, run_id=ids[-1]))
        table += [["Runs page, empty store", f"{empty:.3f}", "1.00"],
                  [f"Runs page, {len(ids)} runs", f"{listed:.3f}", f"{listed / empty:.2f}"],
                  [f"Runs page, {len(ids)} runs, one selected", f"{selected:.3f}", f"{selected / empty:.2f}"]]
        st.cache_resource.clear()
        if not args.runs_page_only:
            data_small = median(rerun_seconds("app_pages/data.py", args.reruns, args.warmup, folder=small))
            data_large = median(rerun_seconds("app_pages/data.py", args.reruns, args.warmup, folder=large))
            pictures = 10 * args.pictures_per_class
            table += [["Data page, Fashion-MNIST 5-9 (700 pictures)", f"{data_small:.3f}", "1.00"],
                      [f"Data page, {pictures:,} pictures", f"{data_large:.3f}", f"{data_large / data_small:.2f}"]]
        for row in table:
            emit(item="ui_scale", what=row[0], median_s=float(row[1]))
    finally:
        st.cache_resource.clear()
        scratch.cleanup()
    print()
    print(markdown_table(["page and store", "median s per rerun", "vs its light case"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Class 3 beyond the scan: named pipes given as the dataset, the weights and the model, and the Data page.

Reading a FIFO blocks for ever, so each case has a short timeout. The Data page cases also check
what the page lists for the image corpus of class 1 and the hostile zip of class 6, which is why
this class runs after those two.
"""
import os
import shutil
from pathlib import Path

from .bench import TLCORE, TRAIN, Bench
from .checks import add_apptest_case, refusal, short


def class_special_files(bench: Bench, shared: dict) -> None:
    """Class 3 beyond the scan: FIFOs given as the dataset, the weights and the model, and the Data page."""
    case_dir = bench.work / "c3"
    case_dir.mkdir()
    pipe_zip, pipe_weights = case_dir / "pipe.zip", case_dir / "pipe.pth"
    os.mkfifo(pipe_zip)
    os.mkfifo(pipe_weights)
    refusal(bench, 3, "train on a FIFO named pipe.zip", [*TLCORE, "train", pipe_zip, *TRAIN],
            ("neither a folder nor a .zip",), home=case_dir / "home-pipe-zip")
    refusal(bench, 3, "--weights-file is a FIFO",
            [*TLCORE, "train", shared["good"], *TRAIN, "--weights-file", pipe_weights], ("not a regular file",),
            home=case_dir / "home-pipe-weights")
    run_copy = case_dir / "run-with-pipe-model"
    shutil.copytree(shared["run"], run_copy)
    (run_copy / "model_best.pt").unlink()
    os.mkfifo(run_copy / "model_best.pt")
    refusal(bench, 3, "predict with model_best.pt a FIFO",
            [*TLCORE, "predict", run_copy, shared["good"] / "cats" / "cats_all_000.png"], (), timeout=20)
    data_page(bench, shared, case_dir, pipe_zip)


def data_page(bench: Bench, shared: dict, case_dir: Path, pipe: Path) -> None:
    """Paths typed into the Data page: a FIFO, the image corpus, the hostile zip, a NUL byte."""
    pages = {"fifo": str(pipe), "nul": f"{case_dir}/photos\0/cats"}
    if shared.get("corpus"):
        pages["corpus"] = str(shared["corpus"])
    if shared.get("hostile_zip"):
        pages["zip"] = str(shared["hostile_zip"])
    items = [dict(name=name, page="data", typed=typed, home=str(case_dir / f"home-page-{name}"), timeout_s=90)
             for name, typed in pages.items()]
    with bench.watching(*[Path(item["home"]) for item in items]) as escaped:
        results = bench.run_items("apptest", items, TLSTUDIO_ALLOWED_ROOTS=bench.work)

    def shows(words):
        def check(result):
            return any(words in e for e in result.get("errors", [])), f"error shown: {short(result.get('errors'), 150)}"
        return check

    def lists(expected):
        def check(result):
            listed = dict(result.get("skipped_table", []))
            wrong = [path for path, want in expected if not any(w in (listed.get(path) or "") for w in want)]
            return not wrong and not result.get("errors"), (f"{len(listed)} skipped files listed; missing or wrong: "
                                                           f"{wrong[:4]}; errors: {short(result.get('errors'), 80)}")
        return check
    add_apptest_case(bench, 3, "Data page: a FIFO typed as the dataset", results["fifo"], escaped,
                     shows("neither a folder nor a .zip"))
    add_apptest_case(bench, 6, "Data page: a path with a NUL byte", results["nul"], escaped, shows("NUL character"))
    if "corpus" in results:
        expected = [(e["path"], e["scan"]) for e in shared["corpus_skips"]]
        add_apptest_case(bench, 1, "Data page: the image corpus folder", results["corpus"], escaped, lists(expected))
    if "zip" in results:
        expected = [(e["entry"], (e["reason"],)) for e in shared["hostile_entries"]]
        add_apptest_case(bench, 6, "Data page: the zip with slip, absolute and link entries", results["zip"], escaped,
                         lists(expected))

"""The Runs page and the sidebar with real runs: the queue, cancel, compare, a run a restart interrupted."""
import json
import secrets
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from apptest_support import home, offline_weights, open_app, table, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore.jsonio import write_json_atomic
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.runs.store.notes import RunNotes
from tlcore.runs import RunSummary
from tlcore.runs import RunFolder
from ui import format as fmt
from waiting import run_state, wait_for

RUN_TIMEOUT_S = 120


@pytest.mark.slow
def test_queue_cancel_and_compare(home, offline_weights):
    folder = make_image_folder(home / "shapes", {"circles": 6, "squares": 6})
    at = open_app()  # starts the app's runner, which dispatches runs from the store
    settings = {"data": str(folder), "image_size": 64, "batch_size": 4, "extra": {"dataset": "shapes"}}
    long_run = runs.create_run(RunConfig(**settings, strategy="fine_tune", epochs=500, head_epochs=0,
                                         name="Long one"), paths.runs_dir())
    wait_for(lambda: run_state(long_run) == "running")
    first = runs.create_run(RunConfig(**settings, epochs=3, name="First in line"), paths.runs_dir())
    second = runs.create_run(RunConfig(**settings, epochs=3, seed=1, name="Second in line"), paths.runs_dir())

    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
    statuses = dict(zip(table(at, "status")["run"], table(at, "status")["status"]))
    assert statuses == {"Long one": "▶ running", "First in line": "◷ queued #1", "Second in line": "◷ queued #2"}
    sidebar = texts(at.sidebar.markdown) + texts(at.sidebar.caption)
    assert "**Training:** Long one" in sidebar and "2 more waiting in the queue." in sidebar

    # The newest run is shown; pick the long one and cancel it: the queue moves on by itself.
    at.selectbox(key="run_picker").select(long_run.name).run()
    at.button(key=f"cancel_{long_run.name}").click().run()
    wait_for(lambda: run_state(long_run) == "cancelled", timeout=30)
    wait_for(lambda: run_state(first) == run_state(second) == "succeeded", timeout=RUN_TIMEOUT_S)
    at.run()
    assert not at.exception
    assert "Cancelled after" in texts(at.info)

    # Compare the two finished runs: a row each, a verdict, bars and a curve per run.
    at.multiselect(key="compare_runs").select(first.name).select(second.name).run()
    assert not at.exception
    assert sorted(at.table[0].value["run"].str.replace("**", "").str.replace(" (best)", "")) == [
        "First in line", "Second in line"]
    # Two runs alike but for the seed: either verdict may be right, but exactly one is given.
    assert ("No clear difference" in texts(at.info)) != (" is best: " in texts(at.success))
    figure = str(at.get("plotly_chart")[-1].proto.spec)
    assert "First in line" in figure and "Second in line" in figure


def test_a_run_the_server_lost_shows_as_interrupted(home):
    run_dir = runs.create_run(RunConfig(data=str(home / "photos")), paths.runs_dir())
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    RunFolder(run_dir).update_status(state="running", pid=gone.pid, started_at=time.time() - 60,
                       heartbeat_at=time.time() - 60)
    at = open_app("app_pages/runs.py")  # a server starting up finds the run's worker gone
    assert table(at, "status")["status"].tolist() == ["⚠ interrupted"]
    assert "The server stopped while this run was training" in texts(at.error)
    assert "No run in progress." in texts(at.sidebar.caption)


def test_default_names_tell_runs_apart_and_a_persons_name_wins(home):
    runs_dir = paths.runs_dir()
    now = time.time()
    first = finished_run(runs_dir, created_at=now - 300)
    finished_run(runs_dir, created_at=now - 200)
    finished_run(runs_dir, strategy="fine_tune", backbone="resnet18", created_at=now - 100)
    named = runs.create_run(RunConfig(data="/data/shapes", name="Chosen at the start"), runs_dir)
    RunFolder(named).update_status(state="cancelled")
    at = open_app("app_pages/runs.py")
    shown = table(at, "status")
    assert shown["run"].tolist() == ["Chosen at the start", "shapes · fine-tuning", "shapes · feature extraction · #2",
                                     "shapes · feature extraction"]
    assert shown["network"].tolist()[1:3] == ["ResNet-18", "MobileNetV2"]
    assert shown["status"].tolist()[:2] == ["■ cancelled", "✓ succeeded"]
    assert shown["best"].tolist()[1] == "80%" and shown["time"].tolist()[1] == "42 s"
    assert list(shown.columns) == ["run", "status", "network", "best", "time"]
    at.selectbox(key="run_picker").select(first.name).run()
    assert "shapes · feature extraction" in [h.value for h in at.subheader]


def test_narrow_cells_keep_what_matters():
    def run(state, **status):
        return RunSummary("r1", Path("/runs/r1"), RunConfig(data="/data/fm5"), {"state": state, **status})

    assert [fmt.state_cell(state) for state in ("succeeded", "failed", "cancelled", "interrupted", "running")] == [
        "✓ succeeded", "✗ failed", "■ cancelled", "⚠ interrupted", "▶ running"]
    assert fmt.state_cell("queued", 2) == "◷ queued #2"
    assert fmt.accuracy_cell(run("running", best_val_acc=0.8712)) == "87%" and fmt.accuracy_cell(run("queued")) == "—"
    assert [fmt.time_cell(run("succeeded", wall_s=s)) for s in (42, 185, 725, 3720)] == [
        "42 s", "3 min 05 s", "12 min", "1 h 02 min"]
    assert fmt.time_cell(run("queued", created_at=time.time() - 75)) == "1 min 15 s"
    starred = replace(run("succeeded"), notes=RunNotes(name="Shoes", starred=True), repeat=3)
    assert fmt.run_name(starred) == "Shoes" and fmt.run_title(starred).startswith("★ Shoes · feature extraction · ")
    assert fmt.run_name(replace(run("succeeded"), repeat=3)) == "fm5 · feature extraction · #3"
    assert fmt.run_title(replace(run("succeeded"), repeat=3)).count("feature extraction") == 1


def test_rename_note_star_and_delete_a_run(home):
    runs_dir = paths.runs_dir()
    keep = finished_run(runs_dir, created_at=time.time() - 100)
    gone = finished_run(runs_dir)
    at = open_app("app_pages/runs.py")
    assert picker(at).value == gone.name  # the newest is shown
    config_before = (gone / "config.json").read_text()

    at.text_input(key=f"name_{gone.name}").input("  Shapes,\n second try ")
    at.text_area(key=f"note_{gone.name}").input("Fewer rounds than the first.")
    at.checkbox(key=f"star_{gone.name}").check()
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception
    assert table(at, "status")["run"].tolist() == ["★ Shapes, second try", "shapes · feature extraction"]
    assert "★ Shapes, second try" in [h.value for h in at.subheader]
    assert "Fewer rounds than the first." in texts(at.markdown)
    assert json.loads((gone / "notes.json").read_text()) == {
        "name": "Shapes, second try", "note": "Fewer rounds than the first.", "starred": True}
    assert (gone / "config.json").read_text() == config_before  # what was asked stays as written

    # Delete asks first; "Keep it" keeps it.
    at.button(key=f"delete_{gone.name}").click().run()
    assert "Delete **Shapes, second try** for good?" in texts(at.warning)
    at.button(key=f"delete_no_{gone.name}").click().run()
    assert gone.is_dir() and "for good?" not in texts(at.warning)
    at.button(key=f"delete_{gone.name}").click().run()
    at.button(key=f"delete_yes_{gone.name}").click().run()
    assert not at.exception
    assert not gone.exists() and keep.is_dir()
    assert "Deleted Shapes, second try." in texts(at.success)
    assert table(at, "status")["run"].tolist() == ["shapes · feature extraction"]
    assert picker(at).value == keep.name
    assert at.query_params.get("run") in ([keep.name], keep.name)


def test_a_run_still_training_is_cancelled_before_it_can_be_deleted(home, monkeypatch):
    from tlcore.runs.supervision.runner import Runner

    monkeypatch.setattr(Runner, "tick", lambda self: None)  # no worker: the test plays its part
    monkeypatch.setattr(Runner, "reconcile", lambda self: None)
    busy = finished_run(paths.runs_dir(), state="running")
    at = open_app("app_pages/runs.py")
    at.button(key=f"delete_{busy.name}").click().run()
    assert "is still running" in texts(at.warning) and "Cancel it first" in texts(at.warning)
    assert not any(b.key == f"delete_yes_{busy.name}" for b in at.button)
    at.button(key=f"cancel_to_delete_{busy.name}").click().run()
    assert RunFolder(busy).cancel_requested()
    RunFolder(busy).update_status(state="cancelled")  # the worker stopped, as asked
    at.run()
    assert "for good?" in texts(at.warning)
    at.button(key=f"delete_yes_{busy.name}").click().run()
    assert not busy.exists() and "No runs yet." in texts(at.info)


def test_compare_names_a_winner_only_when_the_intervals_allow(home):
    runs_dir = paths.runs_dir()
    now = time.time()
    weak = finished_run(runs_dir, scores=((150, 200), (160, 200)), created_at=now - 300)
    strong = finished_run(runs_dir, strategy="fine_tune", scores=((170, 200), (190, 200)), created_at=now - 200)
    close = finished_run(runs_dir, scores=((162, 200),), created_at=now - 100)
    empty = finished_run(runs_dir, strategy="scratch", scores=(), created_at=now - 50, state="failed")
    at = open_app("app_pages/runs.py")
    at.multiselect(key="compare_runs").select(weak.name).select(strong.name).select(empty.name).run()
    assert not at.exception
    rows = at.table[0].value
    assert rows["run"].tolist() == ["shapes · feature extraction", "**shapes · fine-tuning** (best)",
                                    "shapes · from scratch"]
    assert rows["strategy"].tolist()[1] == "fine-tuning" and rows["network (backbone)"].tolist()[1] == "MobileNetV2"
    assert "last layer (head)" not in rows.columns  # all three have the usual one: no column to say so
    assert rows["pictures (train / validation)"].tolist()[1] == "40 / 200"
    assert [plain(cell) for cell in rows["accuracy: best round"]] == ["80% (74–85%)", "95% (91–97%)",
                                                                     "no round finished"]
    assert plain(rows["accuracy: last round"].tolist()[1]) == "95% (91–97%)"
    assert texts(at.success) == ("shapes · fine-tuning is best: 95% (91–97%) against 80% (74–85%) "
                                 "for shapes · feature extraction.")
    bars = str(at.get("plotly_chart")[-2].proto.spec)
    assert "fine-tuning" in bars and "best round" in bars and "error_y" in bars

    at.multiselect(key="compare_runs").unselect(strong.name).select(close.name).run()
    assert "No clear difference: the intervals overlap; with 200 validation pictures, one picture is 0.5%." \
        in texts(at.info)
    assert not at.success


def test_a_runs_last_layer_shows_in_its_name_its_settings_and_compare(home):
    from tlcore.models import heads  # noqa: F401 (the engine in: the pages take the heads' words from it)

    runs_dir = paths.runs_dir()
    now = time.time()
    plain = finished_run(runs_dir, created_at=now - 300)
    averages = finished_run(runs_dir, head="prototypes", created_at=now - 200)
    solved = finished_run(runs_dir, head="logistic", created_at=now - 100)
    at = open_app("app_pages/runs.py")
    assert table(at, "status")["run"].tolist() == [
        "shapes · feature extraction · one layer, solved exactly (logistic regression)",
        "shapes · feature extraction · class averages (prototypes)", "shapes · feature extraction"]
    picker_options = picker(at).options
    assert sum("class averages (prototypes)" in option for option in picker_options) == 1
    assert "last layer: one layer, solved exactly (logistic regression)" in texts(at.caption)

    at.multiselect(key="compare_runs").select(plain.name).select(averages.name).select(solved.name).run()
    assert not at.exception
    assert at.table[0].value["last layer (head)"].tolist() == [
        "one layer (linear)", "class averages (prototypes)", "one layer, solved exactly (logistic regression)"]


def test_stopped_early_is_said_only_where_rounds_were_left(home):
    runs_dir = paths.runs_dir()
    now = time.time()
    all_rounds = finished_run(runs_dir, scores=((180, 200),) * 4, planned=4, stopped_early=True, created_at=now - 100)
    cut_short = finished_run(runs_dir, scores=((180, 200),) * 4, planned=20, stopped_early=True)
    at = open_app("app_pages/runs.py")
    assert "Stopped early" in texts(at.info)  # the newest is shown: 4 of its 20 rounds
    assert "fine-tuning" not in texts(at.info)  # a feature-extraction run has no warm-up to go on from
    at.selectbox(key="run_picker").select(all_rounds.name).run()
    assert "Finished in" in texts(at.success) and "Stopped early" not in texts(at.info)
    assert cut_short.is_dir()


def test_a_model_no_better_than_guessing_is_said_to_have_learnt_nothing(home):
    runs_dir = paths.runs_dir()
    learnt = finished_run(runs_dir, scores=((180, 200),), created_at=time.time() - 100)
    coin = finished_run(runs_dir, scores=((104, 200),))
    at = open_app("app_pages/runs.py")
    warning = texts(at.warning)
    assert "It may have learnt nothing: right on 52% of the 200 pictures kept aside" in warning
    assert "picking one of the 2 classes at random is right on 50% on average" in warning
    at.selectbox(key="run_picker").select(learnt.name).run()
    assert "learnt nothing" not in texts(at.warning)
    assert coin.is_dir()


def picker(at):
    """The "Show run" picker (its widget key changes when the chosen run is renamed)."""
    return next(box for box in at.selectbox if box.label == "Show run")


def plain(cell: str) -> str:
    """A table cell's text with the characters that keep it on one line made ordinary spaces again."""
    return cell.replace("\u00a0", " ").replace("\u2060", "")


# -- runs written as a finished worker leaves them, without training ------------------------------------

def finished_run(runs_dir: Path, dataset: str = "shapes", strategy: str = "feature_extraction",
                 backbone: str = "mobilenet_v2", scores: tuple[tuple[int, int], ...] = ((8, 10),),
                 train_pictures: int = 40, created_at: float | None = None, state: str = "succeeded",
                 head: str = "linear", planned: int | None = None, **status_fields) -> Path:
    """A run folder as a worker leaves it: a dataset event and one epoch per (right, of) validation pictures;
    with ``planned``, the phase's start event saying how many rounds it was to train.

    It is written in a hidden folder and moved into place whole, so a runner watching the folder
    never sees it queued (and never trains it).
    """
    created_at = time.time() if created_at is None else created_at
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(created_at))
    run_id = f"{stamp}-{backbone}-{strategy}-{secrets.token_hex(2)}"
    hidden = Path(runs_dir) / f".making-{run_id}"
    hidden.mkdir(parents=True)
    RunConfig(data=f"/data/{dataset}", backbone=backbone, strategy=strategy, epochs=max(len(scores), 1), image_size=64,
              head=head, extra={"dataset": dataset}).save(hidden / "config.json")
    val = scores[0][1] if scores else 10
    counts = {"a": {"train": train_pictures // 2, "val": val // 2},
              "b": {"train": train_pictures - train_pictures // 2, "val": val - val // 2}}
    events = [{"type": "dataset", "time": created_at, "classes": ["a", "b"], "counts": counts}]
    if planned is not None:
        events.append({"type": "phase_start", "phase": "head", "inputs": "embeddings", "epochs": planned})
    for epoch, (right, total) in enumerate(scores, start=1):
        first = total // 2
        right_a = min(right, first)
        confusion = [[right_a, first - right_a], [total - first - (right - right_a), right - right_a]]
        events.append({"type": "epoch", "phase": "head", "epoch": epoch, "epochs": len(scores),
                       "train_loss": 0.5, "train_acc": 0.9, "val_loss": 0.6, "val_acc": right / total,
                       "confusion": confusion,
                       "per_class": {key: [0.5, 0.5] for key in ("precision", "recall", "f1", "support")}})
    (hidden / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    status = {"state": state, "created_at": created_at, "started_at": created_at, "ended_at": created_at + 42,
              "wall_s": 42.0, "epochs_run": len(scores), **status_fields}
    if scores:
        accuracies = [right / total for right, total in scores]
        status.update(best_val_acc=max(accuracies), final_val_acc=accuracies[-1],
                      best_epoch=1 + accuracies.index(max(accuracies)))
    write_json_atomic(hidden / "status.json", status)
    run_dir = Path(runs_dir) / run_id
    hidden.rename(run_dir)
    return run_dir

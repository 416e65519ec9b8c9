"""Experiments: a grid of ordinary runs on one validation set, shared features, resume, and the report."""
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from cli_support import home  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore.people.person import LOCAL
from tlcore import runs
from tlcore.__main__ import main as cli
from tlcore.config import ConfigError, RunConfig
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import Manifest
from tlcore.data.scan import scan
from tlcore import paths
from tlcore.runs.experiments.queue import advance_experiments, queue_experiment
from tlcore.runs.experiments.grid import (ALL, SOURCE, Arm, cell_state, grid_arms, is_finished, load_experiment,
                                     new_experiment, plan_sizes, results)
from tlcore.runs.supervision.runner import Runner
from tlcore.runs import RunFolder

CLASSES = {"reds": 9, "blues": 9, "greens": 6}  # 80% to train: 7, 7 and 5 training pictures


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "colours", CLASSES, size=(40, 40))


def checked(data):
    return scan(data, cache=ImageCache(paths.cache_dir()), image_size=32)


def test_sizes_a_class_cannot_give_are_measured_as_every_picture_and_said(home, data):
    sizes, notes = plan_sizes([2, 6, 10], checked(data))
    assert sizes == [2, ALL]
    assert notes == ["The smallest class, 'greens', has 5 training pictures, so 6 per class cannot be drawn from "
                     "every class; the experiment measures every picture instead."]
    assert plan_sizes([2, 7], checked(data)) == ([2, ALL], [])  # 7 takes every picture of every class already


def test_grids_that_cannot_run_are_refused_before_any_folder(home, data):
    manifest = checked(data)
    for grid, words in [(dict(arms=[], sizes=[2], seeds=1), "at least one strategy"),
                        (dict(arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]), sizes=[2], seeds=6),
                         "1 to 5 times"),
                        (dict(arms=[Arm("?", "nonsense")], sizes=[2], seeds=1), "Unknown strategy 'nonsense'")]:
        with pytest.raises(ConfigError, match=words):
            new_experiment(manifest, base={"image_size": 32}, **grid)
    assert not list((paths.studio_home() / "experiments").glob("*"))


@pytest.mark.slow
def test_the_cli_runs_a_grid_on_one_validation_set_sharing_features_and_writes_the_report(home, data, capsys, tmp_path):
    report = tmp_path / "report.html"
    code = cli(["experiment", str(data), "--strategies", "feature_extraction,domain_adaptation", "--per-class",
                "2,all", "--seeds", "2", "--image-size", "32", "--epochs", "2", "--report", str(report)])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert code == 1  # domain alignment needs a target: its runs are refused, the rest go on
    made, per_run, written = lines[0], lines[1:-1], lines[-1]
    assert made["runs"] == 8 and len(per_run) == 8
    refused = [r for r in per_run if r["strategy"] == "domain_adaptation"]
    assert all(r["state"] == "refused" and "needs a folder of pictures from where" in r["error"] for r in refused)
    trained = [r for r in per_run if r["strategy"] == "feature_extraction"]
    assert all(r["state"] == "succeeded" for r in trained)

    run_dirs = [runs.resolve_runs_dir(None) / r["run_id"] for r in trained]
    manifests = [Manifest.load(d / "manifest.json") for d in run_dirs]
    assert len({frozenset(s.key for s in m.split("val")) for m in manifests}) == 1  # one validation set
    subsets = [next((e for e in RunFolder(d).read_events()[0] if e["type"] == "subset"), None) for d in run_dirs]
    assert [s and s["pictures"] for s in subsets] == [6, 6, None, None]  # 2 per class of 3 classes; then all
    timings = [RunFolder(d).read_status()["timings"] for d in run_dirs]
    assert "embedding_s" in timings[0] and not any("embedding_s" in t for t in timings[1:])  # one feature pass

    experiment = load_experiment(made["folder"])
    rows = results(experiment)
    assert [r["state"] for r in rows].count("refused") == 4 and rows[0]["per_class_recall"].keys() == set(CLASSES)
    html = report.read_text()
    assert "What the numbers say" in html and "Feature extraction reaches" in html and "Plotly.newPlot" in html
    assert "needs a folder of pictures from where" in html  # the refused runs, with the reason
    assert written["report"] == str(report)
    if shutil.which("chromium") or shutil.which("google-chrome"):  # kaleido draws PNGs with a Chrome it finds
        assert len(written["figures"]) == 3  # no scratch: no pretraining figure
        assert all(Path(p).stat().st_size > 10_000 for p in written["figures"])


@pytest.mark.slow
def test_an_experiment_interrupted_by_a_restart_resumes_its_runs(home, data):
    experiment = new_experiment(checked(data), arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]),
                                sizes=[2, 3], seeds=1, base={"image_size": 32, "epochs": 2})
    submit = lambda config, manifest, owner: runs.create_run(config, None, manifest, owner=owner).name  # noqa: E731
    queue_experiment(experiment, submit)
    first, second = experiment.cells
    RunFolder(runs.resolve_runs_dir(None) / first.run_id).update_status(state="interrupted")  # what a restart leaves
    interrupted = first.run_id

    # A new server's runner: it moves the experiment on by itself, with no page open.
    runner = Runner(between_ticks=lambda r: advance_experiments(r.submit, r.runs_dir), between_ticks_s=0.5).start()
    try:
        deadline = time.monotonic() + 300
        while not is_finished(load_experiment(experiment.folder)) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        runner.stop()
    again, untouched = load_experiment(experiment.folder).cells
    assert again.earlier_runs == [interrupted] and again.run_id != interrupted
    assert untouched.run_id == second.run_id  # a queued run is left as it is
    assert all(cell_state(c, runs.resolve_runs_dir(None)) == "succeeded" for c in (again, untouched))


def test_each_cell_is_queued_once_and_the_runner_leaves_the_clis_experiments_alone(home, data):
    made = []

    def submit(config, manifest, owner):
        made.append(runs.create_run(config, None, manifest).name)
        return made[-1]

    arms = grid_arms(["feature_extraction"], ["mobilenet_v2"])
    experiment = new_experiment(checked(data), arms=arms, sizes=[2], seeds=2, base={"image_size": 32})
    page_copy, runner_copy = load_experiment(experiment.folder), load_experiment(experiment.folder)
    assert queue_experiment(page_copy, submit) == 2
    assert queue_experiment(runner_copy, submit) == 0  # it sees the page's runs before queueing its own
    assert len(made) == 2 and [c.run_id for c in runner_copy.cells] == made

    by_cli = new_experiment(checked(data), arms=arms, sizes=[2], seeds=1, base={"image_size": 32}, driver="cli")
    advance_experiments(submit)
    assert load_experiment(by_cli.folder).cells[0].run_id is None and len(made) == 2


def queued_only(config, manifest, owner=LOCAL):
    return runs.create_run(config, None, manifest).name


def test_a_restart_that_interrupts_the_last_run_does_not_end_the_experiment(home, data):
    experiment = new_experiment(checked(data), arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]),
                                sizes=[2], seeds=1, base={"image_size": 32})
    queue_experiment(experiment, queued_only)
    [cell] = experiment.cells
    RunFolder(runs.resolve_runs_dir(None) / cell.run_id).update_status(state="interrupted")
    assert not is_finished(load_experiment(experiment.folder))  # it will be queued again
    advance_experiments(queued_only)
    [again] = load_experiment(experiment.folder).cells
    assert again.earlier_runs == [cell.run_id] and cell_state(again, runs.resolve_runs_dir(None)) == "queued"


def test_only_the_arms_that_start_from_the_source_wait_for_it(home, data):
    source = queued_only(RunConfig(data=str(data), strategy="scratch", image_size=32, epochs=1), checked(data))
    arms = [Arm("from the source", "feature_extraction", overrides={"init_from": SOURCE}),
            Arm("from ImageNet", "feature_extraction")]
    experiment = new_experiment(checked(data), arms=arms, sizes=[2], seeds=1, base={"image_size": 32},
                                source_run=source)
    assert queue_experiment(experiment, queued_only) == 1  # ImageNet's arm goes at once
    waiting, going = load_experiment(experiment.folder).cells
    assert waiting.run_id is None and going.run_id is not None

    # A restart interrupts the source: it is queued again, and the arm still waits for it.
    RunFolder(runs.resolve_runs_dir(None) / source).update_status(state="interrupted")
    advance_experiments(queued_only)
    current = load_experiment(experiment.folder)
    assert current.earlier_source_runs == [source] and current.source_run != source
    assert current.cells[0].run_id is None and not is_finished(current)

    # The new source fails: only the arm that needed it is refused, with the reason.
    RunFolder(runs.resolve_runs_dir(None) / current.source_run).update_status(state="failed", error="out of memory")
    advance_experiments(queued_only)
    refused, _ = load_experiment(experiment.folder).cells
    assert refused.refused == f"The source run {current.source_run} did not finish: out of memory"
    RunFolder(runs.resolve_runs_dir(None) / going.run_id).update_status(state="succeeded")
    assert is_finished(load_experiment(experiment.folder))


def test_one_damaged_experiment_does_not_stop_the_others(home, data):
    arms = grid_arms(["feature_extraction"], ["mobilenet_v2"])
    damaged = new_experiment(checked(data), arms=arms, sizes=[2], seeds=1, base={"image_size": 32})
    (damaged.folder / "manifest.json").write_text("{ not json")
    healthy = new_experiment(checked(data), arms=arms, sizes=[2], seeds=1, base={"image_size": 32})
    advance_experiments(queued_only)
    assert load_experiment(healthy.folder).cells[0].run_id is not None


def test_each_size_draws_the_same_pictures_for_the_same_seed():
    from tlcore.runs.execution.run_data import draw_per_class

    labels = np.repeat(np.arange(3), [7, 9, 5])
    first, again, other = draw_per_class(labels, 4, 1), draw_per_class(labels, 4, 1), draw_per_class(labels, 4, 2)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert np.bincount(labels[first]).tolist() == [4, 4, 4]
    assert np.bincount(labels[draw_per_class(labels, 6, 0)]).tolist() == [6, 6, 5]  # a small class gives all it has


def test_the_verdict_compares_each_way_where_it_was_measured():
    from tlcore.report.experiment_report import verdict

    def row(arm, strategy, size, acc, state="succeeded", seconds=1.0, target=None):
        return {"arm": arm, "strategy": strategy, "backbone": "mobilenet_v2", "per_class": size, "seed": 0,
                "state": state, "best_val_acc": acc, "seconds": seconds, "target_acc": target, "error": None}

    pictures = {5: 5, 20: 20}
    rows = [row("Pretrained", "feature_extraction", 5, 0.80), row("Pretrained", "feature_extraction", 20, 0.90),
            row("Scratch", "scratch", 5, 0.40, seconds=30), row("Scratch", "scratch", 20, 0.60, seconds=40),
            row("Tuned", "fine_tune", 5, 0.70), row("Tuned", "fine_tune", 20, 0.895),
            row("Broken", "fine_tune", 5, None, state="failed"), row("Broken", "fine_tune", 20, None, state="failed")]
    said = verdict(rows, pictures)
    assert said[0] == "Pretrained reaches 90% with 20 per class."
    assert "Scratch does not reach it with 20 per class (at most 60%)." in said
    assert "Tuned comes within 1 percentage point of it: 89.5% with 20 per class." in said
    assert "Broken has no finished run to compare." in said
    assert ("Pretraining bought +40 percentage points at 5 per class, +30 percentage points at 20 per class "
            "(the best pretrained choice minus scratch).") in said
    assert said[-1] == "2 runs did not finish; the table says why."

    # Where the runs have a target, the verdict is about it, and so is the quickest run.
    shifted = [row("Plain", "feature_extraction", 5, 0.95, seconds=1, target=0.40),
               row("Aligned", "domain_adaptation", 5, 0.90, seconds=20, target=0.60)]
    said = verdict(shifted, {5: 5})
    assert said[:3] == ["Measured where the model will be used (the target pictures):",
                        "Aligned reaches 60% with 5 per class.",
                        "Plain does not reach it with 5 per class (at most 40%)."]

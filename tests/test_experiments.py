"""Experiments: a grid of ordinary runs on one validation set, shared features, resume, and the report."""
import json
import time
from pathlib import Path

import pytest

from cli_support import home  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore import runs
from tlcore.__main__ import main as cli
from tlcore.config import ConfigError
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import Manifest
from tlcore.data.scan import scan
from tlcore import paths
from tlcore.runs.experiments import (ALL, Arm, advance_experiments, cell_state, grid_arms, is_finished,
                                     load_experiment, new_experiment, plan_sizes, queue_experiment, results)
from tlcore.runs.runner import Runner

CLASSES = {"reds": 9, "blues": 9, "greens": 6}  # 80% to train: 7, 7 and 5 training pictures


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "colours", CLASSES, size=(40, 40))


def checked(data):
    return scan(data, cache=ImageCache(paths.cache_dir()), image_size=32)


def test_sizes_a_class_cannot_give_are_measured_as_every_picture_and_said(home, data):
    sizes, notes = plan_sizes([2, 6, 10], checked(data))
    assert sizes == [2, ALL]
    assert notes == ["The smallest class, 'greens', has 5 training pictures, so 6, 10 per class cannot be drawn from "
                     "every class; the experiment measures every picture instead."]


def test_grids_that_cannot_run_are_refused_before_any_folder(home, data):
    manifest = checked(data)
    for grid, words in [(dict(arms=[], sizes=[2], seeds=1), "at least one strategy"),
                        (dict(arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]), sizes=[2], seeds=6),
                         "1 to 5 times"),
                        (dict(arms=[Arm("?", "nonsense")], sizes=[2], seeds=1), "Unknown strategy 'nonsense'")]:
        with pytest.raises(ConfigError, match=words):
            new_experiment(manifest, base={"image_size": 32}, **grid)
    assert not list((paths.studio_home() / "experiments").glob("*"))


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
    subsets = [next((e for e in runs.read_events(d)[0] if e["type"] == "subset"), None) for d in run_dirs]
    assert [s and s["pictures"] for s in subsets] == [6, 6, None, None]  # 2 per class of 3 classes; then all
    timings = [runs.read_status(d)["timings"] for d in run_dirs]
    assert "embedding_s" in timings[0] and not any("embedding_s" in t for t in timings[1:])  # one feature pass

    experiment = load_experiment(made["folder"])
    rows = results(experiment)
    assert [r["state"] for r in rows].count("refused") == 4 and rows[0]["per_class_recall"].keys() == set(CLASSES)
    html = report.read_text()
    assert "What the numbers say" in html and "Feature extraction reaches" in html and "Plotly.newPlot" in html
    assert "needs a folder of pictures from where" in html  # the refused runs, with the reason
    assert written["report"] == str(report) and len(written["figures"]) == 3  # no scratch: no pretraining figure
    assert all(Path(p).stat().st_size > 10_000 for p in written["figures"])


def test_an_experiment_interrupted_by_a_restart_resumes_its_runs(home, data):
    experiment = new_experiment(checked(data), arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]),
                                sizes=[2, 3], seeds=1, base={"image_size": 32, "epochs": 2})
    submit = lambda config, manifest: runs.create_run(config, None, manifest).name  # noqa: E731 (queued only)
    queue_experiment(experiment, submit)
    first, second = experiment.cells
    runs.update_status(runs.resolve_runs_dir(None) / first.run_id, state="interrupted")  # what a restart leaves
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

    def submit(config, manifest):
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

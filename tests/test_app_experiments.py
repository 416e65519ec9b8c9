"""The Experiments page: a grid started in one click, its progress and cancel, its results and report; the
lessons one click from the home page."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
from tlcore.runs.experiments.queue import run_here
from tlcore.runs.experiments.grid import grid_arms, list_experiments, new_experiment, results
from tlcore.runs.execution.worker import execute_run
from tlcore.runs import RunFolder


def test_an_experiment_starts_in_one_click_shows_its_progress_and_cancels(home, offline_weights):
    data = make_image_folder(home / "colours", {"reds": 8, "blues": 8, "greens": 16})
    at = open_folder(open_app("app_pages/data.py"), data)
    at.switch_page("app_pages/experiments.py").run()
    assert not at.exception
    at.multiselect(key="experiment_strategies").set_value(["feature_extraction"]).run()
    at.multiselect(key="experiment_sizes").set_value([5, 10]).run()
    at.slider(key="experiment_seeds").set_value(1).run()
    assert "2 runs, one after another" in texts(at.caption)
    next(b for b in at.button if b.label == "Start the experiment").click().run()
    assert not at.exception
    [experiment] = list_experiments()
    # 10 per class is more than the smallest classes have: measured as every picture instead, and said.
    assert experiment.sizes == [5, 0] and "cannot be drawn from every class" in texts(at.info)
    assert all(cell.run_id for cell in experiment.cells)
    assert "runs done" in at.get("progress")[0].proto.text or "runs done" in str(at.get("progress")[0].value)
    next(b for b in at.button if b.label == "Cancel the rest of this experiment").click().run()
    assert not at.exception
    assert list_experiments()[0].cancelled
    for cell in list_experiments()[0].cells:  # a queued run is cancelled at once, a running one asked to stop
        run_dir = paths.runs_dir() / cell.run_id
        state = RunFolder(run_dir).read_status()["state"]
        assert state in ("cancelled", "succeeded") or (state == "running" and RunFolder(run_dir).cancel_requested())


@pytest.mark.slow
def test_a_finished_experiment_shows_its_verdict_figures_and_report(home, offline_weights):
    data = make_image_folder(home / "colours", {"reds": 8, "blues": 8, "greens": 8})
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=32)
    experiment = new_experiment(manifest, arms=grid_arms(["feature_extraction", "domain_adaptation"], ["mobilenet_v2"]),
                                sizes=[2, 0], seeds=2, base={"image_size": 32, "epochs": 2}, name="colours test",
                                dataset_label="colours", driver="cli")
    run_here(experiment, execute_run)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["experiment"] = experiment.experiment_id
    at.run().switch_page("app_pages/experiments.py").run()
    assert not at.exception
    assert "Feature extraction reaches" in texts(at.markdown)
    assert len(at.get("plotly_chart")) >= 3
    assert "4 runs did not finish; the others went on." in texts(at.warning)
    labels = [b.label for b in at.get("download_button")]
    assert "Download the report (HTML)" in labels and "Download the figures (PNG)" in labels
    assert (experiment.folder / "report.html").read_text().count("Plotly.newPlot") >= 3
    assert [r["state"] for r in results(experiment)].count("succeeded") == 4


@pytest.mark.slow
def test_a_lesson_is_one_click_from_the_home_page(home, offline_weights):
    at = open_app()
    assert "2. Feature extraction or fine-tuning?" in texts(at.markdown)
    next(b for b in at.button if b.key == "home_lesson_extract-or-tune").click().run()
    assert not at.exception and at.title[0].value == "Experiments"
    [experiment] = list_experiments()
    assert experiment.lesson == "extract-or-tune" and len(experiment.cells) == 12
    # No outcome promised before it ran: how to read it now, what it showed once its runs have finished.
    assert "What the lesson showed is written here once its runs have finished" in texts(at.info)
    next(b for b in at.button if b.label == "Cancel the rest of this experiment").click().run()
    assert list_experiments()[0].cancelled
    config = json.loads((paths.runs_dir() / experiment.cells[0].run_id / "config.json").read_text())
    assert config["image_size"] == 64 and config["train_per_class"] == 5


def test_a_lessons_card_gives_its_time_from_this_computers_measured_speed(home, monkeypatch):
    import torch  # noqa: F401 (the engine is in: the cards may ask it for the time)

    import ui.lessons
    from tlcore.report.estimate import Throughput
    from tlcore.runs.experiments.lessons import IMAGE_SIZE

    at = open_app()
    assert "**2. Feature extraction or fine-tuning?** · not timed on this computer yet" in texts(at.markdown)
    assert any(b.label.startswith("Time the lessons on this computer") for b in at.button)
    measured = Throughput("mobilenet_v2", IMAGE_SIZE, "CPU", eval_images_per_s=1600.0, train_images_per_s=200.0,
                          build_s=0.1, val_images_per_s=1000.0, pull_s=0.01)
    monkeypatch.setattr(ui.lessons, "known_throughput", lambda *asked: measured)
    at.run()
    cards = [m.value for m in at.markdown if m.value.startswith("**2. Feature extraction or fine-tuning?**")]
    assert cards and "· about 2 minutes here (from this computer's measured speed)" in cards[0]
    assert not any(b.label.startswith("Time the lessons on this computer") for b in at.button)


def test_a_finished_lessons_words_are_written_from_its_results(home):
    from tlcore.runs.experiments.grid import Arm
    from tlcore.runs.store.creation import make_run_folder

    data = make_image_folder(home / "clothes", {"boots": 8, "bags": 8})
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=32)
    experiment = new_experiment(manifest, arms=[Arm("Feature extraction", "feature_extraction"),
                                                Arm("Fine-tuning", "fine_tune")], sizes=[5], seeds=1,
                                base={"image_size": 32}, name="2. Feature extraction or fine-tuning?",
                                lesson="extract-or-tune")
    for cell, accuracy, seconds in zip(experiment.cells, (0.62, 0.57), (4.0, 30.0)):
        cell.run_id = make_run_folder(cell.config(experiment.base, experiment.data), paths.runs_dir()).name
        RunFolder(paths.runs_dir() / cell.run_id).update_status(state="succeeded", best_val_acc=accuracy,
                                                                 wall_s=seconds)
    experiment.save()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["experiment"] = experiment.experiment_id
    at.run().switch_page("app_pages/experiments.py").run()
    assert not at.exception
    said = texts(at.info)
    assert "What it showed here:" in said
    assert "feature extraction scored 62% and fine-tuning 57%: feature extraction was ahead by 5 points" in said
    assert "7.5 times as long" in said

"""The Train page's automatic choice (best model in N minutes) and its verdict on the Experiments page."""
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
from tlcore.report import auto_choice
from tlcore.report.estimate import Throughput
from tlcore.runs.experiments.queue import run_here
from tlcore.runs.experiments.grid import list_experiments
from tlcore.runs.execution.worker import execute_run
from tlcore.runs import RunFolder


@pytest.mark.slow
def test_the_train_page_plans_the_choice_and_starts_it(home, offline_weights):
    data = make_image_folder(home / "colours", {"reds": 8, "blues": 8, "greens": 8})
    at = open_folder(open_app("app_pages/data.py"), data)
    at.switch_page("app_pages/train.py").run()
    at.toggle(key="auto_on").set_value(True).run()
    assert not at.exception
    assert not any(b.label == "Start training" for b in at.button)  # the person's own choices step aside
    at.button(key="auto_time").click().run()  # each candidate network timed here, once
    assert not at.exception
    assert "Feature extraction · MobileNetV2: about" in texts(at.markdown)
    at.button(key="auto_start").click().run()
    assert not at.exception
    [experiment] = list_experiments()
    assert experiment.auto["minutes"] == 2 and experiment.name == "Best model in 2 minutes"
    assert all(cell.run_id for cell in experiment.cells)
    assert {cell.overrides.get("head", "linear") for cell in experiment.cells} == {"linear", "logistic"}
    for cell in experiment.cells:  # the runs are ordinary runs: cancel them as any run
        RunFolder(paths.runs_dir() / cell.run_id).request_cancel()


@pytest.mark.slow
def test_the_choice_is_said_with_its_reasons(home, offline_weights):
    data = make_image_folder(home / "colours", {"reds": 8, "blues": 8, "greens": 8})
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=32)
    fast = lambda name, train: Throughput(name, 32, "CPU", 500.0, 100.0 if train else None, 0.5, 300.0)
    plan = auto_choice.plan(manifest, 1, available=lambda name: name == "mobilenet_v2", throughput=fast)
    experiment = auto_choice.start(manifest, plan, 1, base={"image_size": 32}, dataset_label="colours", driver="cli")
    run_here(experiment, execute_run)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["experiment"] = experiment.experiment_id
    at.run().switch_page("app_pages/experiments.py").run()
    assert not at.exception
    verdict = texts(at.success)
    assert "Chosen:" in verdict and "validation pictures" in verdict and "flatters it" in verdict
    chosen = auto_choice.choice(experiment)
    assert chosen["run_id"] in [cell.run_id for cell in experiment.cells] and chosen["finished"]

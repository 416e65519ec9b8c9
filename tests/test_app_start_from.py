"""The Train page's "Start from" and the Runs page's chain of starting points."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.runs.execution.worker import execute_run


@pytest.fixture
def source_run(home, offline_weights):
    """A finished run on shapes, at 64 px."""
    data = make_image_folder(home / "shapes", {"circles": 6, "squares": 6, "triangles": 6})
    run_dir = runs.create_run(RunConfig(data=str(data), epochs=2, image_size=64, name="shapes source"),
                              paths.runs_dir())
    assert execute_run(run_dir)["state"] == "succeeded"
    return run_dir


def start_button(at):
    return next(b for b in at.button if b.label == "Start training")


@pytest.mark.slow
def test_a_run_starts_from_a_finished_run_with_its_network_and_size(home, source_run):
    target = make_image_folder(home / "leaves", {"oak": 6, "maple": 6}, seed=3)
    at = open_folder(open_app("app_pages/data.py"), target)
    at.switch_page("app_pages/train.py").run()
    choice = at.selectbox(key="start_from")
    assert "ImageNet" in choice.format_func(choice.value)
    assert "shapes source" in choice.format_func(source_run.name) and "3 classes" in \
        choice.format_func(source_run.name)
    choice.set_value(source_run.name).run()
    assert not at.exception
    assert "Builds on ImageNet's weights (MobileNetV2) → run «shapes source» (3 classes" in texts(at.caption)
    network = next(box for box in at.selectbox if "backbone" in box.label)
    assert network.disabled and network.value == "MobileNetV2"
    assert at.select_slider[0].value == 64  # the source's picture size

    at.radio(key="strategy").set_value("scratch").run()
    assert "cannot start from a run" in texts(at.warning) and start_button(at).disabled
    at.radio(key="strategy").set_value("feature_extraction").run()
    start_button(at).click().run()
    assert not at.exception and at.title[0].value == "Runs"
    run_dir = paths.runs_dir() / at.query_params["run"]
    assert json.loads((run_dir / "config.json").read_text())["init_from"] == str(source_run)
    assert "Started from: ImageNet's weights (MobileNetV2) → run «shapes source» (3 classes, right on" in \
        texts(at.caption)


@pytest.mark.slow
def test_a_finished_run_shows_where_its_network_came_from(home, source_run):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = source_run.name
    at.run().switch_page("app_pages/runs.py").run()
    assert not at.exception
    assert "Started from: ImageNet's weights (MobileNetV2) → this run" in texts(at.caption)

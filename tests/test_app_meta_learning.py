"""The Train page's meta-learning sources, and a meta-learning run's practice on the Runs page."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths
from tlcore.runs.execution.worker import execute_run

PRACTICE = {"reds": 7, "blues": 7, "greens": 7, "yellows": 7, "purples": 7}


def start_button(at):
    return next(b for b in at.button if b.label == "Start training")


@pytest.mark.slow
def test_meta_learning_asks_for_sources_checks_them_and_shows_its_practice(home, offline_weights):
    practice = make_image_folder(home / "colours", PRACTICE)
    task = make_image_folder(home / "new", {"oranges": 6, "greys": 6}, seed=5)
    at = open_folder(open_app("app_pages/data.py"), practice)
    at = open_folder(at, task)
    at.switch_page("app_pages/train.py").run()
    at.radio(key="strategy").set_value("meta_learning").run()
    assert not at.exception
    assert "needs one or more labelled datasets" in texts(at.warning) and start_button(at).disabled

    sources = at.multiselect(key="meta_sources")
    assert any(words.startswith("colours · 5 classes · 35 pictures") for words in sources.options)
    path = str(practice.resolve())
    sources.set_value([path]).run()
    assert "needs one or more" not in texts(at.warning) and not start_button(at).disabled
    at.number_input(key="meta_learning_ways").set_value(6).run()
    assert "'colours' has 5 classes, but each small task (episode) needs 6 (6-way)" in texts(at.warning)
    assert start_button(at).disabled
    at.number_input(key="meta_learning_ways").set_value(3).run()
    at.number_input(key="meta_learning_shots").set_value(7).run()
    assert "has 7 pictures, but each task takes 7 per class" in texts(at.warning) and start_button(at).disabled
    at.number_input(key="meta_learning_shots").set_value(2).run()
    at.number_input(key="meta_learning_episodes").set_value(8).run()
    at.number_input(key="meta_learning_inner_steps").set_value(2).run()
    at.select_slider[0].set_value(32).run()
    at.slider(key="epochs_meta_learning").set_value(1).run()
    start_button(at).click().run()
    assert not at.exception and at.title[0].value == "Runs"

    run_dir = paths.runs_dir() / at.query_params["run"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["meta_sources"] == [path] and config["options"]["episodes"] == 8
    next(b for b in at.button if b.label == "Cancel this run").click().run()  # the runner's worker: let it go

    # The same settings, run to the end in this process: the Runs page tells what the practice did.
    from tlcore import runs
    from tlcore.config import RunConfig
    finished = runs.create_run(RunConfig.from_dict({**config, "name": "practised"}), paths.runs_dir())
    assert execute_run(finished)["state"] == "succeeded"
    view = AppTest.from_file(APP, default_timeout=60)
    view.query_params["run"] = finished.name
    view.run().switch_page("app_pages/runs.py").run()
    assert not view.exception
    assert "it practised on 8 small tasks (meta-learning)" in texts(view.info)

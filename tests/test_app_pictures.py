"""The Runs page shows the pictures behind a finished run's answers: a cell's, a class's, the mistakes."""
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.runs.store.predictions import in_cell, read_predictions
from tlcore.runs.execution.worker import execute_run


@pytest.mark.slow
def test_a_cell_of_the_confusion_matrix_opens_its_pictures(home, offline_weights):
    data = make_image_folder(home / "colours", {"reds": 10, "blues": 10, "greens": 10})
    run_dir = runs.create_run(RunConfig(data=str(data), epochs=2, image_size=32), paths.runs_dir())
    assert execute_run(run_dir)["state"] == "succeeded"
    classes, predictions = read_predictions(run_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.name
    at.run().switch_page("app_pages/runs.py").run()
    assert not at.exception
    choice = at.selectbox(key=f"pictures_{run_dir.name}")
    assert choice.value == "mistakes"
    right = len(in_cell(predictions, 0, 0))
    choice.set_value("cell:0:0").run()
    assert not at.exception
    assert len(at.get("image")) == min(right, 24) > 0
    assert any(words.startswith(f"{classes[0]}, right: {right} picture") for words in choice.options)

    at.toggle(key=f"explain_on_{run_dir.name}").set_value(True).run()  # Grad-CAM for one of them
    assert not at.exception and not at.error
    assert any(str(image.proto.imgs[0].caption).startswith(f"where it found {classes[0]}")
               for image in at.get("image"))

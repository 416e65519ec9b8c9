"""The map of what the network sees: validation features in 2-D, before and after a run adjusted its network."""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.runs.store.predictions import read_predictions
from tlcore.runs.execution.worker import execute_run
from tlcore.serve.feature_map import feature_map, project


def run(home, strategy):
    data = make_image_folder(home / "colours", {"reds": 8, "blues": 8, "greens": 8})
    run_dir = runs.create_run(RunConfig(data=str(data), strategy=strategy, epochs=1, head_epochs=1, image_size=32,
                                        batch_size=8), paths.runs_dir())
    assert execute_run(run_dir)["state"] == "succeeded"
    return run_dir


@pytest.mark.slow
def test_a_fine_tuned_run_has_a_map_before_and_after_and_it_is_kept(home, offline_weights):
    run_dir = run(home, "fine_tune")
    found = feature_map(run_dir, "pca")
    classes, predictions = read_predictions(run_dir)
    assert found["after"].shape == found["before"].shape == (len(predictions), 2)
    assert not np.allclose(found["after"], found["before"])  # the body moved
    assert found["predicted"].tolist() == [p.predicted for p in predictions] and found["classes"] == classes
    assert (run_dir / "feature_map_pca.npz").is_file()
    again = feature_map(run_dir, "pca")
    assert np.array_equal(again["after"], found["after"]) and again["before"] is not None

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.name
    at.run().switch_page("app_pages/runs.py").run()
    charts = len(at.get("plotly_chart"))
    at.toggle(key=f"map_on_{run_dir.name}").set_value(True).run()
    assert not at.exception and len(at.get("plotly_chart")) == charts + 2  # before and after, side by side


def test_feature_extraction_has_one_map_and_projections_are_checked(home, offline_weights):
    found = feature_map(run(home, "feature_extraction"), "tsne")
    assert found["before"] is None and found["after"].shape[1] == 2
    with pytest.raises(ValueError, match="Unknown projection 'umap'"):
        project(np.zeros((5, 3)), "umap")

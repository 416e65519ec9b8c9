"""The Train page's several sources: networks combined for feature extraction, a second dataset trained jointly."""
import json

import pytest

from apptest_support import home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths


def start(at):
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception and at.title[0].value == "Runs"
    run_dir = paths.runs_dir() / at.query_params["run"]
    header = texts(at.caption)  # the run's header, read before the run is let go
    next(b for b in at.button if b.label == "Cancel this run").click().run()  # the runner's worker: let it go
    return json.loads((run_dir / "config.json").read_text()), header


@pytest.mark.slow
def test_feature_extraction_combines_networks_and_fine_tuning_learns_a_second_dataset(home, offline_weights):
    second = make_image_folder(home / "second", {"reds": 5, "blues": 5, "greens": 5}, seed=4)
    task = make_image_folder(home / "task", {"oranges": 6, "greys": 6}, seed=5)
    at = open_folder(open_app("app_pages/data.py"), second)
    at = open_folder(at, task)
    at.switch_page("app_pages/train.py").run()

    networks = at.multiselect(key="combine")
    assert "EfficientNet-Lite0 (ImageNet's weights)" in " ".join(networks.options)
    networks.set_value(["efficientnet_lite0"]).run()
    assert "described by 2 networks" in texts(at.caption)
    config, header = start(at)
    assert config["backbone"] == "mobilenet_v2+efficientnet_lite0" and config["member_runs"] == []
    assert "MobileNetV2 + EfficientNet-Lite0" in header

    at.switch_page("app_pages/train.py").run()
    at.radio(key="strategy").set_value("fine_tune").run()
    assert not any(m.key == "combine" for m in at.multiselect)  # a network that adjusts is one network
    joint = at.selectbox(key="joint_with")
    assert joint.value is None
    joint.set_value(str(second.resolve())).run()
    config, header = start(at)
    assert config["joint_with"] == str(second.resolve()) and config["backbone"] == "mobilenet_v2"
    assert "Also learned at the same time: second, through a last layer of its own" in header

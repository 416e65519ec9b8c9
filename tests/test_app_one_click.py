"""The home page's one-click start: the built-in sample trained at once with the Train page's defaults."""
import json

from apptest_support import home, offline_weights, open_app, texts  # noqa: F401 (fixtures)
from tlcore import paths
from tlcore.runs import RunFolder, list_runs


def press(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception
    return at


def started_config(at) -> dict:
    """The run the page just opened: its settings; its training is let go (what was asked is the point here)."""
    assert at.title[0].value == "Runs"
    run_dir = paths.runs_dir() / at.query_params["run"]
    RunFolder(run_dir).request_cancel()
    return json.loads((run_dir / "config.json").read_text())


def test_one_click_on_the_sample_starts_its_run_and_opens_the_live_view(home, offline_weights):
    at = press(open_app(), "Train a model on the sample")
    config = started_config(at)
    assert config["strategy"] == "feature_extraction" and config["backbone"] == "mobilenet_v2"
    assert config["epochs"] == 20  # feature extraction's own rounds, as the Train page offers them
    assert config["extra"]["dataset"] == "Fashion sample (built in)"
    assert [run.run_id for run in list_runs()] == [at.query_params["run"]]


def test_the_one_click_run_is_the_train_pages_defaults(home, offline_weights):
    at = press(open_app(), "Try the sample dataset")  # the other way: the sample on the Train page first
    assert at.title[0].value == "Train"
    from_train_page = started_config(press(at, "Start training"))
    at.switch_page("app_pages/home.py").run()
    one_click = started_config(press(at, "Train a model on the sample"))
    assert one_click == from_train_page


def test_without_the_networks_weights_it_says_so_and_starts_nothing(home, monkeypatch):
    import ui.start_run

    monkeypatch.setattr(ui.start_run, "weights_table", lambda: {
        "mobilenet_v2": {"available": False, "source": "none", "detail": "no internet to download them"}})
    at = press(open_app(), "Train a model on the sample")
    assert at.title[0].value == "Transfer Learning Studio"
    assert "pretrained weights are not available here (no internet to download them)" in texts(at.warning)
    assert not list_runs()

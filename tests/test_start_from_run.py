"""Starting a run from one of your runs: its body, the refusals, the chain, and models that outlive it."""
import json
import shutil

import pytest
import torch

from cli_support import home  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore import runs
from tlcore.__main__ import main as cli
from tlcore.config import ConfigError, RunConfig
from tlcore.models.classifier import create_classifier, load_checkpoint
from tlcore.models.weights import create_backbone
from tlcore.runs.store.sources import check_source, load_source_body, started_from
from tlcore.runs.execution.worker import execute_run
from tlcore.serve.predictor import Predictor
from tlcore.training.strategies import get_strategy
from tlcore.runs import RunFolder

SOURCE_CLASSES = {"red_circles": 8, "blue_squares": 8, "green_triangles": 8}
TARGET_CLASSES = {"yellow_things": 6, "purple_things": 6}


@pytest.fixture(scope="module")
def source_data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("src") / "shapes", SOURCE_CLASSES, size=(40, 40))


@pytest.fixture(scope="module")
def target_data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("tgt") / "others", TARGET_CLASSES, size=(40, 40), seed=11)


@pytest.fixture(scope="module")
def scratch_run(source_data, home):
    """A source trained from scratch: its body is nothing like ImageNet's, so a copy is recognisable."""
    run_dir = runs.create_run(RunConfig(data=str(source_data), strategy="scratch", epochs=1, image_size=32,
                                        batch_size=8))
    assert execute_run(run_dir)["state"] == "succeeded"
    return run_dir


def body_state(path):
    state = torch.load(path / "model_best.pt", weights_only=True)["state_dict"]
    return {k[len("backbone.body."):]: v for k, v in state.items() if k.startswith("backbone.body.")}


def test_a_run_started_from_another_has_that_runs_body_at_step_zero(scratch_run, target_data):
    config = RunConfig(data=str(target_data), strategy="fine_tune", image_size=32, init_from=str(scratch_run))
    model = create_classifier(config, len(TARGET_CLASSES), pretrained=False)
    load_source_body(model.backbone, check_source(scratch_run))
    expected = body_state(scratch_run)
    loaded = model.backbone.body.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)  # BatchNorm statistics included
    assert model.head.out_features == len(TARGET_CLASSES)  # a new head for the new classes


def test_feature_extraction_from_a_run_keeps_its_body_and_l2sp_anchors_to_it(scratch_run, target_data):
    imagenet = create_backbone("mobilenet_v2", pretrained=True).body.state_dict()
    run_dir = runs.create_run(RunConfig(data=str(target_data), strategy="feature_extraction", epochs=2,
                                        image_size=32, init_from=str(scratch_run)))
    assert execute_run(run_dir)["state"] == "succeeded"
    body = body_state(run_dir)
    assert all(torch.equal(body[k], v) for k, v in body_state(scratch_run).items())
    assert not torch.equal(body["features.0.0.weight"], imagenet["features.0.0.weight"])

    tuned = runs.create_run(RunConfig(data=str(target_data), strategy="l2_sp", epochs=1, head_epochs=1,
                                      image_size=32, batch_size=8, init_from=str(scratch_run)))
    status = execute_run(tuned)
    assert status["state"] == "succeeded", status.get("error")
    # ||w - w0|| is measured from the source run's weights: small after one epoch, not ImageNet-far.
    assert 0 < status["final_body_distance"] < 5


def test_the_chain_of_starting_points_is_kept_and_outlives_its_sources(scratch_run, target_data, source_data,
                                                                       tmp_path):
    middle = runs.create_run(RunConfig(data=str(target_data), strategy="feature_extraction", epochs=1,
                                       image_size=32, init_from=str(scratch_run)))
    assert execute_run(middle)["state"] == "succeeded"
    last = runs.create_run(RunConfig(data=str(source_data), strategy="feature_extraction", epochs=1,
                                     image_size=32, init_from=str(middle)))
    assert execute_run(last)["state"] == "succeeded"
    chain = started_from(last)
    assert [step["kind"] for step in chain] == ["random", "run", "run"]
    assert [step.get("run_id") for step in chain[1:]] == [scratch_run.name, middle.name]
    assert chain[2]["classes"] == sorted(TARGET_CLASSES) and chain[2]["strategy"] == "feature_extraction"
    assert started_from(scratch_run) == [{"kind": "random", "backbone": "mobilenet_v2"}]

    moved = tmp_path / "middle-moved"
    shutil.move(middle, moved)  # the source is gone: the chain still reads, the model still predicts
    try:
        assert started_from(last) == chain
        model, config, labels, _ = load_checkpoint(last / "model_best.pt")
        assert labels == sorted(SOURCE_CLASSES) and config.init_from == str(middle)
        predictor = Predictor(last)
        picture = next((source_data / "red_circles").iterdir())
        assert predictor.predict_file(picture, 1)["top"][0]["label"] in SOURCE_CLASSES
    finally:
        shutil.move(moved, middle)


@pytest.mark.parametrize("state, words", [("failed", "failed"), ("cancelled", "was cancelled"),
                                          ("running", "is still training"), ("queued", "has not started yet")])
def test_an_unfinished_run_cannot_be_started_from(scratch_run, target_data, tmp_path, state, words):
    copy = tmp_path / scratch_run.name
    shutil.copytree(scratch_run, copy)
    RunFolder(copy).update_status(state=state)
    with pytest.raises(ConfigError, match=f"{words}; only a finished run can be started from"):
        runs.create_run(RunConfig(data=str(target_data), init_from=str(copy)))


def test_a_start_that_cannot_work_is_refused_in_words(scratch_run, target_data, tmp_path):
    with pytest.raises(ConfigError, match="no longer there"):
        check_source(tmp_path / "deleted-run")
    with pytest.raises(ConfigError, match="starts from random numbers"):
        runs.create_run(RunConfig(data=str(target_data), strategy="scratch", init_from=str(scratch_run)))
    with pytest.raises(ConfigError, match="keeps that network, so its backbone must be MobileNetV2"):
        runs.create_run(RunConfig(data=str(target_data), backbone="efficientnet_lite0", init_from=str(scratch_run)))
    emptied = tmp_path / "emptied"
    shutil.copytree(scratch_run, emptied)
    (emptied / "model_best.pt").unlink()
    with pytest.raises(ConfigError, match="holds no trained model"):
        runs.create_run(RunConfig(data=str(target_data), init_from=str(emptied)))


def test_a_source_deleted_while_the_run_waited_fails_the_run_in_words(scratch_run, target_data, tmp_path):
    copy = tmp_path / "soon-gone"
    shutil.copytree(scratch_run, copy)
    run_dir = runs.create_run(RunConfig(data=str(target_data), image_size=32, epochs=1, init_from=str(copy)))
    shutil.rmtree(copy)
    status = execute_run(run_dir)
    assert status["state"] == "failed"
    assert "is no longer there" in status["error"]


def test_the_cli_starts_from_a_run_id_with_its_network_and_image_size(scratch_run, target_data, capsys):
    assert cli(["train", str(target_data), "--init-from", scratch_run.name, "--epochs", "1", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = RunFolder(result["run_dir"]).load_config()
    assert (config.init_from, config.backbone, config.image_size) == (str(scratch_run), "mobilenet_v2", 32)
    assert cli(["train", str(target_data), "--init-from", "no-such-run", "--quiet"]) == 2
    assert "There is no run 'no-such-run' to start from" in capsys.readouterr().err


def test_every_strategy_that_builds_on_a_network_can_start_from_a_run(scratch_run, target_data):
    for name in ("feature_extraction", "fine_tune", "l2_sp"):
        assert get_strategy(name).pretrained
        runs.create_run(RunConfig(data=str(target_data), strategy=name, init_from=str(scratch_run)))

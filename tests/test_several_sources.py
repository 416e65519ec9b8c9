"""Several sources at once: networks' features combined side by side, and a second dataset trained jointly."""
import json

import pytest
import torch

from cli_support import home, train  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.__main__ import main as cli
from tlcore.config import ConfigError, RunConfig
from tlcore.data.manifest import Manifest
from tlcore.models.classifier import load_checkpoint
from tlcore.training.embeddings import EmbeddingCache, embedding_key
from tlcore.training.checks import check_config
from tlcore.runs import RunFolder

CLASSES = {"reds": 6, "blues": 6, "greens": 6}
SECOND = {"yellows": 8, "purples": 8, "cyans": 8, "oranges": 8}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "colours", CLASSES, size=(40, 40))


@pytest.fixture(scope="module")
def second(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("second") / "more", SECOND, size=(40, 40), seed=9)


def state(run_dir):
    return torch.load(run_dir / "model_best.pt", weights_only=True)["state_dict"]


def test_combined_networks_concatenate_their_features_each_cached_on_its_own(home, data, capsys):
    code, result, err = train(capsys, data, "--backbone", "mobilenet_v2+efficientnet_lite0", "--epochs", 3)
    assert code == 0, err
    run_dir = runs.resolve_runs_dir(None) / result["run_id"]
    assert "+" not in run_dir.name  # a page address would read it as a space
    model, config, labels, _ = load_checkpoint(run_dir / "model_best.pt")
    assert config.backbone == "mobilenet_v2+efficientnet_lite0" and model.head.in_features == 1280 + 1280

    # Each network's features sit in the cache under the key a run of that network alone uses.
    manifest = Manifest.load(run_dir / "manifest.json")
    cache = EmbeddingCache(paths.cache_dir())
    for identity in ("mobilenet_v2:pretrained", "efficientnet_lite0:pretrained"):
        assert cache.path(embedding_key(manifest.fingerprint(), "train", identity, 32)).exists()
    code, alone, err = train(capsys, data, "--backbone", "efficientnet_lite0", "--epochs", 1)
    assert code == 0 and "embedding_s" not in RunFolder(runs.resolve_runs_dir(None) / alone["run_id"]).read_status()["timings"]

    # The combined model answers like any other: its export-ready checkpoint predicts.
    picture = next((data / "reds").iterdir())
    assert cli(["predict", str(run_dir), str(picture)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["label"] in CLASSES


def test_a_run_combined_with_imagenet_keeps_its_own_body(home, data, capsys):
    code, source, err = train(capsys, data, "--strategy", "scratch", "--epochs", 1)
    assert code == 0, err
    source_dir = runs.resolve_runs_dir(None) / source["run_id"]
    code, result, err = train(capsys, data, "--backbone", "efficientnet_lite0", "--init-from", source_dir, "--epochs", 2)
    assert code == 0, err
    run_dir = runs.resolve_runs_dir(None) / result["run_id"]
    combined, theirs = state(run_dir), state(source_dir)
    member = {k[len("backbone.body.1."):]: v for k, v in combined.items() if k.startswith("backbone.body.1.")}
    assert member and all(torch.equal(member[k], theirs["backbone." + k]) for k in member)
    chain = json.loads((run_dir / "started_from.json").read_text())
    assert chain[0]["kind"] == "combined" and [m["kind"] for m in chain[0]["members"]] == ["imagenet", "run"]


def test_a_combined_run_is_no_starting_point(home, data, capsys):
    code, combined, err = train(capsys, data, "--backbone", "mobilenet_v2+efficientnet_lite0", "--epochs", 1)
    assert code == 0, err
    code, result, err = train(capsys, data, "--init-from", combined["run_id"], "--epochs", 1)
    assert code != 0 and "combines several networks (MobileNetV2 + EfficientNet-Lite0); a run starts from one" in err


def test_combining_is_refused_where_a_network_trains_or_the_runs_do_not_fit(home, data, capsys):
    code, result, err = train(capsys, data, "--backbone", "mobilenet_v2+efficientnet_lite0", "--strategy", "fine_tune")
    assert code != 0 and "Several networks combined work with feature extraction" in err
    with pytest.raises(ConfigError, match="Each of the combined networks needs its own starting point"):
        RunConfig(data="x", backbone="mobilenet_v2+efficientnet_lite0", member_runs=[""])
    with pytest.raises(ConfigError, match="Each of the combined networks needs its own starting point"):
        RunConfig(data="x", backbone="mobilenet_v2", member_runs=["/runs/a"])  # one network: init_from says it
    with pytest.raises(ConfigError, match="needs images of at least|takes 224 px images only"):
        check_config(RunConfig(data="x", backbone="mobilenet_v2+vit_b_16", image_size=128))


def test_joint_training_learns_a_second_dataset_through_its_own_head(home, data, second, capsys):
    code, result, err = train(capsys, data, "--strategy", "fine_tune", "--joint-with", second, "--epochs", 2,
                              "--head-epochs", 1)
    assert code == 0, err
    run_dir = runs.resolve_runs_dir(None) / result["run_id"]
    events = RunFolder(run_dir).read_events()[0]
    joint = next(e for e in events if e["type"] == "joint")
    assert joint["classes"] == sorted(SECOND) and joint["pictures"] == sum(SECOND.values())
    body_epochs = [e for e in events if e["type"] == "epoch" and e["phase"] == "body"]
    assert len(body_epochs) == 2 and all(0 <= e["joint_acc"] <= 1 and e["joint_loss"] > 0 for e in body_epochs)
    assert not any("joint_acc" in e for e in events if e["type"] == "epoch" and e["phase"] == "head")
    model, *_ = load_checkpoint(run_dir / "model_best.pt")
    assert model.head.out_features == len(CLASSES)  # the saved model answers the run's own classes


def test_joint_training_refusals_are_in_words(home, data, second, capsys):
    with pytest.raises(ConfigError, match="keeps the network as it is, so a second dataset cannot share"):
        check_config(RunConfig(data=str(data), joint_with=str(second)))
    with pytest.raises(ConfigError, match="is the training dataset itself"):
        check_config(RunConfig(data=str(data), strategy="fine_tune", joint_with=str(data)))
    assert cli(["train", str(data), "--strategy", "fine_tune", "--joint-with", str(data / "nowhere")]) != 0
    assert "No such file or folder for --joint-with" in capsys.readouterr().err


def test_the_cli_reads_networks_and_runs_into_members():
    from types import SimpleNamespace

    from tlcore.cli.train import members_of

    def run(name, backbone):
        return SimpleNamespace(config=SimpleNamespace(backbone=backbone), run_dir=f"/runs/{name}")

    a, b = run("a", "mobilenet_v2"), run("b", "efficientnet_lite0")
    assert members_of([], []) == (["mobilenet_v2"], [])
    assert members_of(["mobilenet_v2", "efficientnet_lite0"], []) == (["mobilenet_v2", "efficientnet_lite0"], [])
    assert members_of(["mobilenet_v2"], [a]) == (["mobilenet_v2"], ["/runs/a"])  # starts from the run
    assert members_of(["mobilenet_v2", "mobilenet_v2"], [a]) == (["mobilenet_v2", "mobilenet_v2"], ["", "/runs/a"])
    assert members_of(["efficientnet_lite0"], [a]) == (["efficientnet_lite0", "mobilenet_v2"], ["", "/runs/a"])
    assert members_of([], [a, b]) == (["mobilenet_v2", "efficientnet_lite0"], ["/runs/a", "/runs/b"])

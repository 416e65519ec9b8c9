"""L2-SP and DANN: their loss terms, the strategies' registry entries, and real runs with a target."""
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from imagegen import make_image_folder, save_image, make_image
from tlcore import runs
from tlcore.config import ConfigError, RunConfig
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError
from tlcore.data.scan import scan, scan_target
from tlcore.models.classifier import load_checkpoint
from tlcore.report.estimate import Throughput, estimate_seconds
from tlcore.runs.execution.worker import execute_run
from tlcore.training.checks import check_config
from tlcore.training.strategies import get_strategy, list_strategies
from tlcore.training.terms import DomainAdversary, L2SPPenalty, Step, dann_schedule, reverse_gradient
from tlcore.runs import RunFolder

CLASSES = {"red_circles": 8, "blue_squares": 8, "green_triangles": 8}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("source") / "shapes", CLASSES, size=(48, 40))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """The same classes drawn with another seed, plus a class the source lacks and loose pictures."""
    root = make_image_folder(tmp_path_factory.mktemp("target") / "elsewhere",
                             {"red_circles": 5, "blue_squares": 5, "green_triangles": 5, "stars": 3},
                             size=(44, 44), seed=7)
    for i in range(3):
        save_image(make_image(0, seed=100 + i, size=(40, 40)), root / f"loose_{i}.png")
    return root


# -- the terms --------------------------------------------------------------------------------------

def test_the_l2sp_penalty_is_zero_at_the_start_and_pulls_back_toward_it():
    torch.manual_seed(0)
    body, head = nn.Linear(5, 4), nn.Linear(4, 3)
    penalty = L2SPPenalty(list(body.parameters()), list(head.parameters()), alpha=0.1, beta=0.0)
    assert penalty().loss.item() == 0.0
    start = [p.detach().clone() for p in body.parameters()]
    with torch.no_grad():
        for p in body.parameters():
            p.add_(torch.randn_like(p))
    penalty().loss.backward()
    for p, p0 in zip(body.parameters(), start):
        # alpha * (w - w0): a step against it moves w back toward w0, not toward zero.
        assert torch.allclose(p.grad, 0.1 * (p.detach() - p0))
        moved = p.detach() - 0.5 * p.grad
        assert (moved - p0).norm() < (p.detach() - p0).norm()
    assert penalty.distance().item() == pytest.approx(
        sum(((p.detach() - p0) ** 2).sum() for p, p0 in zip(body.parameters(), start)).sqrt().item(), rel=1e-5)


def test_the_l2sp_head_penalty_is_plain_decay_toward_zero():
    head = nn.Linear(4, 3)
    penalty = L2SPPenalty([], list(head.parameters()), alpha=0.1, beta=0.02)
    expected = 0.01 * sum((p.detach() ** 2).sum() for p in head.parameters())
    assert penalty().loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("scale", [0.0, 0.3, 1.0])
def test_gradient_reversal_flips_the_sign_and_scales_by_lambda(scale):
    x = torch.randn(4, 6, requires_grad=True)
    weights = torch.randn(4, 6)
    (reverse_gradient(x, scale) * weights).sum().backward()
    assert torch.equal(reverse_gradient(x, scale), x)
    assert torch.allclose(x.grad, -scale * weights)


def test_the_dann_schedule_rises_from_zero_to_one():
    assert dann_schedule(0.0) == 0.0
    assert dann_schedule(1.0) == pytest.approx(2 / (1 + np.exp(-10)) - 1)
    assert dann_schedule(0.1) < dann_schedule(0.5) < dann_schedule(0.9) < 1.0


def test_the_domain_classifier_sees_both_streams_and_no_target_labels():
    torch.manual_seed(0)
    body = nn.Linear(6, 5)
    adversary = DomainAdversary(5, "target", weight=1.0)
    x, x_target = torch.randn(4, 6), torch.randn(3, 6)
    features = body(x)
    output = adversary(Step(features, None, torch.zeros(4, dtype=torch.long), {"target": x_target}, 0.5, body))
    assert output.figures["domain_acc"][1] == 7  # four labelled pictures and three target ones
    output.loss.backward()
    assert body.weight.grad is not None and adversary.classifier[0].weight.grad is not None


# -- the registry -----------------------------------------------------------------------------------

def test_every_strategy_says_what_it_is_when_it_helps_and_how_it_is_set():
    for spec in list_strategies():
        assert spec.title and spec.plain and spec.summary and spec.when and spec.default_epochs >= 1
        for setting in spec.settings:
            assert setting.low <= setting.default <= setting.high and setting.flag.startswith("--")
    assert get_strategy("l2_sp").trains_body and get_strategy("l2_sp").warm_up
    assert get_strategy("domain_adaptation").needs == ("target",)


def test_the_cli_offers_exactly_the_registered_strategies_and_their_settings():
    from tlcore.cli.commands import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    strategy = next(a for a in train._actions if a.dest == "strategy")
    assert list(strategy.choices) == [s.name for s in list_strategies()]
    flags = {option for action in train._actions for option in action.option_strings}
    assert {"--l2sp-alpha", "--l2sp-beta", "--dann-weight", "--target"} <= flags


def test_the_estimate_reads_the_registry():
    rate = Throughput("mobilenet_v2", 128, "CPU", eval_images_per_s=300, train_images_per_s=100, build_s=0.5,
                      val_images_per_s=250)
    sizes = dict(epochs=3, train_images=400, val_images=100, head_epochs=5)
    assert estimate_seconds(rate, "l2_sp", **sizes) == estimate_seconds(rate, "fine_tune", **sizes)
    plain = estimate_seconds(rate, "fine_tune", **sizes, target_images=200)
    aligned = estimate_seconds(rate, "domain_adaptation", **sizes, target_images=200)
    assert aligned - plain == pytest.approx(3 * 400 / 100, abs=0.2)  # a second training stream per epoch


def test_check_config_refuses_in_words(tmp_path):
    with pytest.raises(ConfigError, match="needs a folder of pictures from where the model will be used"):
        check_config(RunConfig(data=str(tmp_path), strategy="domain_adaptation"))
    with pytest.raises(ConfigError, match="L2-SP alpha"):
        check_config(RunConfig(data=str(tmp_path), strategy="l2_sp", options={"alpha": float("nan")}))


# -- the target pictures ----------------------------------------------------------------------------

def test_a_target_keeps_labels_it_can_use_and_reports_the_others(source, target, tmp_path):
    cache = ImageCache(tmp_path / "cache")
    classes = scan(source, cache=cache, image_size=32).classes
    checked = scan_target(target, classes=classes, cache=cache, image_size=32)
    assert len(checked.samples) == 15 + 3 + 3
    assert len(checked.labelled) == 15
    assert checked.unknown_classes == ["stars"]
    assert all(s.label == -1 for s in checked.samples if "stars" in s.path or "loose" in s.path)


def test_a_target_without_pictures_is_refused(tmp_path):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    (tmp_path / "empty" / "cats" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match="no pictures the studio can read"):
        scan_target(tmp_path / "empty", classes=["cats"], cache=ImageCache(tmp_path / "cache"), image_size=32)


def test_a_target_copied_from_the_training_pictures_is_refused(source, home, tmp_path):
    copy = shutil.copytree(source, tmp_path / "copy")
    run_dir = runs.create_run(RunConfig(data=str(source), strategy="domain_adaptation", target=str(copy),
                                        image_size=32, epochs=1, head_epochs=1))
    status = execute_run(run_dir)
    assert status["state"] == "failed" and "also a training picture" in status["error"]


# -- real runs ------------------------------------------------------------------------------------

def dann_run(source, target, **settings):
    config = RunConfig(data=str(source), strategy="domain_adaptation", target=str(target), image_size=32,
                       batch_size=8, epochs=2, head_epochs=1, early_stop_patience=0, **settings)
    run_dir = runs.create_run(config)
    return run_dir, execute_run(run_dir)


@pytest.mark.slow
def test_a_dann_run_records_target_and_domain_accuracy(source, target, home):
    run_dir, status = dann_run(source, target)
    assert status["state"] == "succeeded", status.get("error")
    assert 0.0 <= status["best_target_acc"] <= 1.0 and 0.0 <= status["final_target_acc"] <= 1.0
    epochs = [e for e in RunFolder(run_dir).read_events()[0] if e["type"] == "epoch"]
    assert all("target_acc" in e and np.array(e["target_confusion"]).sum() == 15 for e in epochs)
    body = [e for e in epochs if e["phase"] == "body"]
    assert body and all(0.0 <= e["domain_acc"] <= 1.0 for e in body)
    assert (run_dir / "target.json").is_file()
    load_checkpoint(run_dir / "model_best.pt")  # the domain classifier is not part of the model kept
    # Validation is on the labelled pictures, blind to the target: the most aligned, last model is kept.
    assert status["best_epoch"] == status["epochs_run"] == epochs[-1]["epoch"]
    assert status["best_target_acc"] == status["final_target_acc"]


@pytest.mark.slow
def test_shuffling_the_target_labels_changes_nothing_in_training(source, target, home, tmp_path):
    """The same pictures under other class folders: every weight trained comes out the same."""
    shuffled = tmp_path / "shuffled"
    shutil.copytree(target, shuffled)
    names = ["red_circles", "blue_squares", "green_triangles"]
    for name in names:
        (shuffled / name).rename(shuffled / f"{name}.tmp")
    for old, new in zip(names, names[1:] + names[:1]):
        (shuffled / f"{old}.tmp").rename(shuffled / new)
    first_dir, first = dann_run(source, target)
    second_dir, second = dann_run(source, shuffled)
    assert first["state"] == second["state"] == "succeeded"
    weights = [load_checkpoint(d / "model_best.pt")[0].state_dict() for d in (first_dir, second_dir)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert first["best_val_acc"] == second["best_val_acc"]
    assert first["final_body_distance"] == second["final_body_distance"]


def test_l2_sp_runs_and_reports_how_far_the_body_moved(source, home):
    config = RunConfig(data=str(source), strategy="l2_sp", image_size=32, batch_size=8, epochs=2, head_epochs=1,
                       early_stop_patience=0, options={"alpha": 0.1, "beta": 0.01})
    run_dir = runs.create_run(config)
    status = execute_run(run_dir)
    assert status["state"] == "succeeded", status.get("error")
    assert status["final_body_distance"] > 0
    assert status["best_phase"] in ("head", "body")
    assert any("penalty" in e for e in RunFolder(run_dir).read_events()[0] if e["type"] == "epoch")


def test_the_worker_trains_on_the_checked_manifest_not_a_second_scan(source, home, tmp_path):
    data = shutil.copytree(source, tmp_path / "data")
    checked = scan(data, cache=ImageCache(home / "cache"), image_size=32)
    save_image(make_image(0, seed=999, size=(40, 40)), data / "red_circles" / "added_later.png")
    run_dir = runs.create_run(RunConfig(data=str(data), image_size=32, epochs=1), manifest=checked)
    status = execute_run(run_dir)
    assert status["state"] == "succeeded", status.get("error")
    trained = (run_dir / "manifest.json").read_text()
    assert "added_later" not in trained
    assert len(checked.samples) == trained.count('"key"')


def test_the_cli_trains_with_a_target_and_says_what_it_lacks(source, target, home, capsys):
    import json as jsonlib

    from tlcore.__main__ import main

    code = main(["train", str(source), "--strategy", "domain_adaptation", "--target", str(target), "--quiet",
                 "--image-size", "32", "--epochs", "1", "--head-epochs", "1", "--dann-weight", "0.5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = jsonlib.loads(out.strip().splitlines()[-1])
    assert {"best_target_acc", "final_target_acc", "best_phase", "final_body_distance"} <= set(result)
    assert "stars name no training class" in err
    assert RunFolder(result["run_dir"]).load_config().options == {"domain_weight": 0.5}

    assert main(["train", str(source), "--strategy", "domain_adaptation", "--target", str(home / "nowhere")]) == 2
    assert "No such file or folder for --target" in capsys.readouterr().err
    assert main(["train", str(source), "--strategy", "domain_adaptation"]) == 2
    assert "needs a folder of pictures" in capsys.readouterr().err
    assert main(["train", str(source), "--strategy", "fine_tune", "--l2sp-alpha", "1"]) == 2
    assert "--l2sp-alpha is a setting of --strategy l2_sp" in capsys.readouterr().err

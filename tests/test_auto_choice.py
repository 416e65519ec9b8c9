"""Best model in N minutes: the plan a budget allows, and the choice made among real runs."""
import json

import pytest

from tlcore.__main__ import main as cli
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
from tlcore import paths
from tlcore.report import auto_choice
from tlcore.report.estimate import Throughput
from tlcore.runs.experiments.grid import load_experiment
from tlcore.runs.store.folder import RunFolder


def speeds(training: float):
    """Networks' speeds as measure_throughput reports them: 200 images/s forward, `training` in training steps."""
    return lambda name, train: Throughput(name, 64, "CPU", 200.0, training if train else None, 0.5,
                                          100.0 if train else None)


def here(*names):
    return lambda name: name in names


@pytest.fixture
def manifest(shapes, home):
    return scan(shapes, cache=ImageCache(paths.cache_dir()), image_size=64)


def test_a_short_budget_leaves_fine_tuning_out_and_says_so(manifest):
    plan = auto_choice.plan(manifest, 1, available=here("mobilenet_v2", "efficientnet_lite0"), throughput=speeds(2.0))
    assert {arm.strategy for arm in plan.arms} == {"feature_extraction"}
    assert {arm.overrides.get("head", "linear") for arm in plan.arms} == {"linear", "logistic"}
    assert {arm.backbone for arm in plan.arms} == {"mobilenet_v2", "efficientnet_lite0"}
    assert plan.total_s <= 60
    assert len(plan.left_out) == 1 and plan.left_out[0].startswith("Fine-tuning")


def test_a_longer_budget_fine_tunes_the_quickest_network_too(manifest):
    plan = auto_choice.plan(manifest, 5, available=here("mobilenet_v2", "efficientnet_lite0"), throughput=speeds(2.0))
    assert [arm.strategy for arm in plan.arms][-1] == "fine_tune" and not plan.left_out
    assert plan.arms[-1].backbone == "mobilenet_v2" and plan.arms[-1].overrides == {}  # its own defaults


def test_the_quickest_candidate_runs_even_past_the_budget(manifest):
    slow = lambda name, train: Throughput(name, 64, "CPU", 0.1, 0.1, 0.5)
    plan = auto_choice.plan(manifest, 1, available=here("mobilenet_v2", "efficientnet_lite0"), throughput=slow)
    assert len(plan.arms) == 1 and len(plan.left_out) == len(auto_choice.candidates(
        here("mobilenet_v2", "efficientnet_lite0"))) - 1


@pytest.mark.parametrize("minutes, available, words", [
    (0.5, here("mobilenet_v2"), "1 to 60 minutes"),
    (2, here(), "No pretrained network"),
])
def test_an_unusable_request_is_refused_in_words(manifest, minutes, available, words):
    with pytest.raises(ValueError, match=words):
        auto_choice.plan(manifest, minutes, available=available, throughput=speeds(20.0))


@pytest.mark.slow
def test_the_cli_trains_the_candidates_and_names_the_best(shapes, home, capsys):
    code = cli(["train", str(shapes), "--auto", "1", "--quiet", "--image-size", "64", "--batch-size", "8"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert code == 0
    plan, chosen = lines[0], lines[-1]
    assert chosen["auto"] in plan["candidates"] and "validation pictures" in chosen["why"]
    experiment = load_experiment(paths.studio_home() / "experiments" / plan["experiment_id"])
    scores = {cell.arm: RunFolder(paths.runs_dir() / cell.run_id).read_status()["best_val_acc"] for cell in experiment.cells}
    assert set(scores) == set(plan["candidates"])  # every candidate an ordinary run
    assert chosen["best_val_acc"] == max(scores.values())
    assert RunFolder(paths.runs_dir() / chosen["run_id"]).read_status()["state"] == "succeeded"


def test_the_cli_refuses_a_strategy_beside_auto(shapes, home, capsys):
    assert cli(["train", str(shapes), "--auto", "2", "--strategy", "fine_tune"]) != 0
    assert "--auto chooses" in capsys.readouterr().err

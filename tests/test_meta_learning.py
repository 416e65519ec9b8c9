"""Meta-learning (Reptile): episodes, the outer step, the refusals, and a real run through the CLI."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from cli_support import home, train  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore import runs
from tlcore.__main__ import main as cli
from tlcore.config import ConfigError, RunConfig
from tlcore.training.meta_learning import EpisodeSampler, Pool, adapt, check_pools, reptile_step
from tlcore.training.checks import check_config
from tlcore.runs import RunFolder

PRACTICE_CLASSES = {"reds": 8, "blues": 8, "greens": 8, "yellows": 8, "purples": 8}
TASK_CLASSES = {"oranges": 6, "greys": 6}


def toy_task(seed=0):
    """Two separable clouds in 8-D: a task a linear model learns in a few steps."""
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.randn(10, 8, generator=g) + 2, torch.randn(10, 8, generator=g) - 2])
    return x, torch.repeat_interleave(torch.arange(2), 10)


def test_one_reptile_step_moves_the_start_toward_the_tasks_adapted_weights():
    x, y = toy_task()
    model = nn.Linear(8, 2)
    start = [p.detach().clone() for p in model.parameters()]
    adapted_model = nn.Linear(8, 2)
    adapted_model.load_state_dict(model.state_dict())
    adapt(adapted_model, list(adapted_model.parameters()), x, y, steps=5, lr=0.05)
    adapted = [p.detach() for p in adapted_model.parameters()]

    reptile_step(model, list(model.parameters()), x, y, steps=5, inner_lr=0.05, outer_lr=0.25)
    moved = [p.detach() for p in model.parameters()]
    for p, p0, p1 in zip(moved, start, adapted):
        assert torch.allclose(p, p0 + 0.25 * (p1 - p0), atol=1e-6)  # theta + eps (theta' - theta)
    before = sum(float((p0 - p1).norm()) for p0, p1 in zip(start, adapted))
    after = sum(float((p - p1).norm()) for p, p1 in zip(moved, adapted))
    assert after == pytest.approx(0.75 * before, rel=1e-4) and before > 0


def test_episodes_draw_n_classes_with_k_support_and_separate_query_pictures():
    labels = np.repeat(np.arange(7), 10)
    pool = Pool("p", [str(c) for c in range(7)], np.zeros((70, 4, 4, 3), np.uint8), labels)
    sampler = EpisodeSampler([pool], ways=5, shots=3, queries=4, rng=np.random.default_rng(0))
    for _ in range(20):
        drawn, episode = sampler()
        assert drawn is pool
        assert np.bincount(episode.support_labels).tolist() == [3] * 5
        assert np.bincount(episode.query_labels).tolist() == [4] * 5
        assert not set(episode.support) & set(episode.query)
        classes = {int(labels[i]) for i in episode.support}
        assert len(classes) == 5 and classes == {int(labels[i]) for i in episode.query}
        # each episode slot holds one original class, the same in support and query
        for slot in range(5):
            assert len({int(labels[i]) for i in episode.support[episode.support_labels == slot]}) == 1


def test_sources_too_small_for_the_tasks_are_refused_in_words():
    with pytest.raises(ConfigError, match="'shapes' has 3 classes, but each small task .* needs 5 \\(5-way\\)"):
        check_pools({"shapes": {"a": 9, "b": 9, "c": 9}}, ways=5, shots=1)
    with pytest.raises(ConfigError, match="the class .b. has 4 pictures, but each task takes 5 per class .* \\(at "
                                          "most 3"):
        check_pools({"shapes": {"a": 9, "b": 4, "c": 9}}, ways=2, shots=5)
    check_pools({"shapes": {"a": 6, "b": 6}}, ways=2, shots=5)  # 5 to learn from, 1 to check on
    with pytest.raises(ConfigError, match="needs one or more labelled datasets"):
        check_config(RunConfig(data="x", strategy="meta_learning"))
    with pytest.raises(ConfigError, match="meta-learning sources are for the meta-learning strategy"):
        check_config(RunConfig(data="x", strategy="fine_tune", meta_sources=["y"]))
    with pytest.raises(ConfigError, match="include the training dataset itself"):
        check_config(RunConfig(data="x", strategy="meta_learning", meta_sources=["y", "x"]))
    with pytest.raises(ConfigError, match="take 2000 pictures in one step"):
        check_pools({"big": {str(c): 50 for c in range(40)}}, ways=40, shots=50)
    with pytest.raises(ConfigError, match="must be a whole number"):
        check_config(RunConfig(data="x", strategy="meta_learning", meta_sources=["y"], options={"ways": 2.5}))


@pytest.fixture(scope="module")
def practice(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("practice") / "colours", PRACTICE_CLASSES, size=(40, 40))


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("task") / "new", TASK_CLASSES, size=(40, 40), seed=7)


@pytest.mark.slow
def test_a_meta_learning_run_practises_then_fine_tunes_from_the_cli(home, practice, task, capsys):
    code, plain, err = train(capsys, task, "--strategy", "fine_tune", "--epochs", 1, "--head-epochs", 1)
    assert code == 0, err  # ImageNet's features of these pictures are cached now
    code, result, err = train(capsys, task, "--strategy", "meta_learning", "--meta-source", practice,
                              "--meta-episodes", 12, "--meta-ways", 3, "--meta-shots", 2, "--meta-inner-steps", 2,
                              "--epochs", 1, "--head-epochs", 1)
    assert code == 0, err
    assert result["meta_episodes"] == 12 and 0 <= result["meta_first_acc"] <= 1 and 0 <= result["meta_last_acc"] <= 1
    run_dir = runs.resolve_runs_dir(None) / result["run_id"]
    practice_events = [e for e in RunFolder(run_dir).read_events()[0] if e["type"] == "meta"]
    assert practice_events[-1]["episode"] == 12 and practice_events[-1]["ways"] == 3
    assert json.loads((run_dir / "config.json").read_text())["meta_sources"] == [str(practice.resolve())]
    status = RunFolder(run_dir).read_status()
    assert status["timings"]["meta_s"] > 0 and status["best_phase"] in ("head", "body")
    assert status["timings"]["embedding_s"] > 0  # the practised body's features are its own, not ImageNet's


def test_meta_learning_refuses_sources_that_cannot_give_its_tasks(home, practice, task, capsys):
    code, result, err = train(capsys, task, "--strategy", "meta_learning", "--meta-source", practice,
                              "--meta-ways", 6)
    assert code == 1 and "'colours' has 5 classes, but each small task (episode) needs 6 (6-way)" in result["error"]
    assert RunFolder(runs.resolve_runs_dir(None) / result["run_id"]).read_status().get("timings", {}).get("meta_s") is None
    code, result, err = train(capsys, task, "--strategy", "meta_learning", "--meta-source", practice,
                              "--meta-shots", 8)
    assert code == 1 and "has 8 pictures, but each task takes 8 per class" in result["error"]
    assert cli(["train", str(task), "--strategy", "meta_learning", "--meta-source", str(practice / "nowhere")]) != 0
    assert "No such file or folder for --meta-source" in capsys.readouterr().err
    code, result, err = train(capsys, task, "--strategy", "meta_learning")
    assert code != 0 and "needs one or more labelled datasets" in err

"""Better models from the same pictures: varied copies of each training picture's features, test-time
augmentation (a picture and its mirror image), and class-balanced sampling for imbalanced classes."""
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from tlcore import paths, runs
from tlcore.config import ConfigError, RunConfig
from tlcore.data.batches import ArrayBatches, should_balance
from tlcore.runs.execution.worker import execute_run
from tlcore.serve.predictor import Predictor
from tlcore.training.loop import PhaseData, evaluate
from tlcore.runs import RunFolder

from imagegen import make_image_folder


def train(shapes, **settings):
    config = RunConfig(**{"data": str(shapes), "image_size": 64, "batch_size": 8, "epochs": 3, **settings})
    run_dir = runs.create_run(config)
    status = execute_run(run_dir)
    assert status["state"] == "succeeded", status.get("error")
    return run_dir, status


def cached_features() -> dict:
    """The embedding cache's arrays, by file name."""
    return {path.name: np.load(path) for path in sorted((paths.cache_dir() / "embeddings").glob("*.npy"))}


def cache_times() -> dict:
    return {path.name: path.stat().st_mtime_ns for path in (paths.cache_dir() / "embeddings").glob("*.npy")}


def test_varied_copies_are_cached_apart_from_the_plain_features_and_reused(shapes, home):
    run_dir, _ = train(shapes, augment_views=2)
    features = cached_features()
    train_size = next(e["train_size"] for e in RunFolder(run_dir).read_events()[0] if e["type"] == "phase_start")
    assert train_size == 3 * 24  # the plain pictures and two copies of each (8 of each class's 10 train)
    assert len(features) == 4  # validation, and the training pictures plain and in two copies
    train_sets = [a for a in features.values() if a.shape[0] == 24]
    assert len(train_sets) == 3
    for a, b in itertools.combinations(train_sets, 2):  # each copy differs from the plain pictures and the other
        assert a.shape == b.shape and not np.allclose(a, b, atol=1e-3)

    before = cache_times()
    _, status = train(shapes, augment_views=2, epochs=2, lr=1e-2)  # another run on the same pictures
    assert cache_times() == before
    assert status["timings"].get("embedding_s", 0.0) == 0.0  # every copy came from the cache


def test_a_copy_count_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="Varied copies"):
        RunConfig(data="x", augment_views=17)
    with pytest.raises(ConfigError, match="Class balancing"):
        RunConfig(data="x", balance="sometimes")


class Doubler(nn.Module):
    """A 'model' whose class scores are its inputs: what TTA averages is plain to see."""

    def forward(self, x):
        return x if x.dim() == 2 else x.flatten(2).mean(2)[:, :2] * torch.tensor([1.0, -1.0])


def test_test_time_augmentation_averages_a_picture_with_its_mirror():
    features = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    mirrors = torch.tensor([[0.0, 4.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1])
    held_out = ArrayBatches(features, labels, 8, False)
    data = PhaseData(train=held_out, val=held_out, prepare=lambda x, training: x, tta=True,
                     mirrored={"val": ArrayBatches(mirrors, labels, 8, False)})
    result = evaluate(Doubler(), data, device=torch.device("cpu"), num_classes=2)
    expected = (torch.softmax(features, 1) + torch.softmax(mirrors, 1)) / 2
    assert np.allclose(result["val_probabilities"], expected.numpy(), atol=1e-6)
    assert result["val_acc"] == 0.5  # the first picture's mirror outvotes it

    plain = evaluate(Doubler(), PhaseData(train=held_out, val=held_out, prepare=lambda x, training: x),
                     device=torch.device("cpu"), num_classes=2)
    assert plain["val_acc"] == 1.0


def test_pictures_are_mirrored_on_the_fly_when_they_are_the_inputs():
    pictures = torch.zeros(1, 3, 4, 4)
    pictures[0, :, :, :2] = 1.0  # bright on the left
    seen = []

    class Looker(nn.Module):
        def forward(self, x):
            seen.append(x[0, 0, 0].tolist())
            return torch.zeros(len(x), 2)

    batches = ArrayBatches(pictures, torch.tensor([0]), 8, False)
    evaluate(Looker(), PhaseData(train=batches, val=batches, prepare=lambda x, training: x, tta=True),
             device=torch.device("cpu"), num_classes=2)
    assert seen == [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]


def test_a_run_with_tta_validates_and_predicts_with_the_mirror(shapes, home):
    run_dir, status = train(shapes, tta=True)
    assert 0.0 <= status["best_val_acc"] <= 1.0
    assert Predictor(run_dir).tta and not Predictor(run_dir, tta=False).tta
    image = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    with_tta, without = Predictor(run_dir).predict_arrays(image), Predictor(run_dir, tta=False).predict_arrays(image)
    assert with_tta != without  # a noise picture and its mirror are described differently


def test_balancing_is_automatic_beyond_a_factor_of_two():
    assert should_balance(np.array([0] * 21 + [1] * 10), "auto")
    assert not should_balance(np.array([0] * 20 + [1] * 10), "auto")
    assert should_balance(np.array([0] * 10 + [1] * 10), "on")
    assert not should_balance(np.array([0] * 90 + [1] * 10), "off")


def test_balanced_sampling_draws_classes_evenly():
    labels = np.array([0] * 90 + [1] * 10)
    batches = ArrayBatches(torch.arange(100).float()[:, None], labels, 10, True, torch.Generator().manual_seed(0),
                           balanced=True)
    drawn = torch.cat([y for _ in range(50) for _, y in batches])
    assert len(drawn) == 50 * 100  # an epoch is as long as before
    share = drawn.float().mean().item()
    assert 0.45 < share < 0.55  # the small class half the time, not a tenth
    plain = ArrayBatches(torch.arange(100).float()[:, None], labels, 10, True, torch.Generator().manual_seed(0))
    assert torch.cat([y for _, y in plain]).float().mean().item() == pytest.approx(0.1)


def test_an_imbalanced_run_says_it_balanced(tmp_path, home):
    data = make_image_folder(tmp_path / "lopsided", {"many": 25, "few": 6}, size=(48, 40))
    _, status = train(data)
    assert status["balanced"] is True
    _, status = train(data, balance="off")
    assert status["balanced"] is False


def test_the_data_check_warns_where_training_balances():
    from tlcore.data import batches, scan

    assert scan.IMBALANCE_RATIO == batches.BALANCE_RATIO  # what the Data page says is what training does


def test_a_config_written_before_balancing_keeps_training_without_it():
    values = RunConfig(data="x").to_dict()
    del values["balance"]
    assert RunConfig.from_dict(values).balance == "off"
    assert RunConfig.from_dict(RunConfig(data="x").to_dict()).balance == "auto"


def test_a_pass_over_every_picture_ignores_the_balanced_draws():
    labels = np.array([0] * 9 + [1])
    batches = ArrayBatches(torch.arange(10).float()[:, None], labels, 4, True, torch.Generator().manual_seed(0),
                           balanced=True)
    seen = torch.cat([x for x, _ in batches.in_order()]).flatten().tolist()
    assert seen == list(range(10))  # each picture once, in order (class prototypes are averages of these)


def test_the_progress_names_the_varied_copies_and_mirrors():
    from ui.progress import progress_text

    def words(split):
        status = {"state": "running", "stage": {"name": "embedding", "split": split, "done": 3, "total": 10},
                  "progress": {"fraction": 0.1}}
        return progress_text(status)[1]

    assert "pictures to learn from, varied copy 2" in words("train:view:2:crop0.6-flip:v2")
    assert "pictures to check on, mirrored" in words("val:mirror")
    assert "pictures to learn from ·" in words("train")


def test_an_export_of_a_tta_run_says_its_files_answer_for_the_picture_alone():
    from tlcore.serve.export_bundle import readme_text

    common = dict(title="t", labels=["a", "b"], preprocessing={"image_size": 64, "mean": [0.5] * 3, "std": [0.5] * 3},
                  files=["README.md"], web_problem="none here", accuracy=0.9)
    assert "mirror image" in readme_text(**common, tta=True)
    assert "mirror image" not in readme_text(**common)

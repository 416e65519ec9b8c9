"""The head solved by logistic regression, its L2 strength chosen by cross-validation."""
import json

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from tlcore import runs
from tlcore.config import RunConfig
from tlcore.models.logistic import fit_logistic, solve, stratified_folds
from tlcore.runs.execution.worker import execute_run
from tlcore.serve.predictor import Predictor
from tlcore.runs import RunFolder


def clusters(spread: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """100 points in five classes, 200 dimensions: class centres plus noise of the given spread."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(100) % 5
    centres = torch.randn(5, 200, generator=generator)
    return centres[labels] + spread * torch.randn(100, 200, generator=generator), labels


def test_the_solution_is_scikit_learns_logistic_regression():
    features, labels = clusters(3.0)
    l2 = 1e-2
    weight, bias = solve(features, labels, torch.ones(100), 5, l2)
    reference = LogisticRegression(C=1 / (len(labels) * l2), tol=1e-10, max_iter=5000).fit(features, labels)
    ours = torch.softmax(features @ weight.t() + bias, 1).numpy()
    assert np.abs(ours - reference.predict_proba(features.numpy())).max() < 1e-3


def test_the_regularisation_changes_with_the_data():
    separable = fit_logistic(*clusters(0.3), 5)
    noisy = fit_logistic(*clusters(6.0), 5)
    assert noisy.l2 > separable.l2  # classes that overlap need the weights held smaller
    assert set(noisy.scores) == set(separable.scores) and len(noisy.scores) > 3


def test_the_fitted_weights_work_on_the_raw_features():
    """The fit standardises the features and folds that back into its weights: features rescaled and
    shifted per dimension must get the same answers from their own fit."""
    features, labels = clusters(2.0)
    scales, shifts = torch.linspace(0.5, 50, 200), torch.linspace(-7, 7, 200)
    plain = fit_logistic(features, labels, 5)
    moved = fit_logistic(features * scales + shifts, labels, 5)
    assert plain.l2 == moved.l2
    probabilities = lambda fit, x: torch.softmax(x @ fit.weight.t() + fit.bias, 1)
    assert torch.allclose(probabilities(plain, features), probabilities(moved, features * scales + shifts), atol=1e-3)


def test_folds_keep_every_class_in_each_and_survive_a_single_picture():
    labels = torch.tensor([0] * 7 + [1] * 3)
    folds = stratified_folds(labels, 5, seed=0)
    assert int(folds.max()) + 1 == 3  # no more folds than the smallest class has pictures
    assert all(set(labels[folds == fold].tolist()) == {0, 1} for fold in range(3))
    with_one = stratified_folds(torch.tensor([0] * 6 + [1] * 4 + [2]), 5, seed=0)
    assert int(with_one.max()) + 1 == 4  # the class of one picture does not decide the folds
    assert with_one[-1] == -1  # and its picture is always learnt from, never held out
    assert stratified_folds(torch.tensor([0, 1, 2]), 5, seed=0) is None


def test_a_picture_weighed_twice_counts_as_two_pictures():
    """Class balancing weighs each class's pictures by how few there are: a weight must count as copies."""
    features, labels = clusters(2.0)
    weights = torch.ones(100)
    weights[:10] = 2
    weighed = solve(features, labels, weights, 5, 1e-2)
    copied = solve(torch.cat([features, features[:10]]), torch.cat([labels, labels[:10]]), torch.ones(110), 5, 1e-2)
    assert torch.allclose(weighed[0], copied[0], atol=1e-3) and torch.allclose(weighed[1], copied[1], atol=1e-3)


def train(dataset, **settings):
    config = RunConfig(**{"data": str(dataset), "image_size": 64, "batch_size": 8, "head": "logistic", **settings})
    run_dir = runs.create_run(config)
    status = execute_run(run_dir)
    assert status["state"] == "succeeded", status.get("error")
    epochs = [e for e in RunFolder(run_dir).read_events()[0] if e["type"] == "epoch"]
    return run_dir, status, epochs


def test_feature_extraction_solves_the_head_in_one_epoch(shapes, home):
    run_dir, status, epochs = train(shapes, strategy="feature_extraction", epochs=20)
    assert len(epochs) == 1 and epochs[0]["phase"] == "head"
    assert epochs[0]["l2"] in [float(key) for key in epochs[0]["l2_scores"]]
    assert status["best_val_acc"] >= 0.8
    image = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    assert len(Predictor(run_dir).predict_arrays(image)) == 1


def test_the_solved_head_is_fine_tunings_warm_up(shapes, home):
    run_dir, status, epochs = train(shapes, strategy="fine_tune", head_epochs=5, epochs=2, unfreeze_stages=1)
    assert [e["phase"] for e in epochs] == ["head", "body", "body"]
    assert "l2" in epochs[0] and "l2" not in epochs[1]
    assert json.loads((run_dir / "config.json").read_text())["head"] == "logistic"

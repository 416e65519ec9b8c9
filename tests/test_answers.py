"""Honest answers: the temperature, the calibration error, familiarity and "none of these", from the
numbers up to a trained run's Predictor and the command line."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tlcore.models.answering import AnsweringModel, Answers, familiarity, nearest_similarity, unit_length
from tlcore.runs.execution.answer_fit import remembered_rows
from tlcore.runs.store.folder import RunFolder
from tlcore.serve.predictor import Predictor, sure_answer
from tlcore.training.calibration import (calibration_error, fit_temperature, held_out_error, reliability,
                                         softmax)


def sampled(temperature: float, pictures: int = 4000, classes: int = 5, seed: int = 0):
    """Logits and labels drawn from softmax(logits / temperature): that temperature is the honest one."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=4.0, size=(pictures, classes))
    probabilities = softmax(logits, temperature)
    labels = np.array([rng.choice(classes, p=row) for row in probabilities])
    return logits, labels


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_is_the_one_the_answers_were_drawn_with(true_temperature):
    logits, labels = sampled(true_temperature)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.1)


def test_scaling_brings_an_overconfident_models_error_down():
    logits, labels = sampled(3.0)  # the raw logits are three times too sure
    raw = calibration_error(softmax(logits), labels)
    assert raw > 0.15
    assert held_out_error(logits, labels) < 0.03 < raw
    bins = reliability(softmax(logits), labels)
    assert sum(b["count"] for b in bins) == len(labels) and all(0 <= b["low"] < b["high"] <= 1 for b in bins)


def test_a_perfect_validation_set_does_not_make_every_answer_certain():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 30)
    logits = rng.normal(size=(30, 3))
    logits[np.arange(30), labels] += 5  # every answer right
    temperature = fit_temperature(logits, labels)
    assert softmax(logits, temperature).max(axis=1).mean() == pytest.approx(31 / 32, abs=1e-6)
    assert softmax(logits, temperature).max() < 1.0


def test_remembered_pictures_keep_every_class_in_its_share():
    labels = np.repeat([0, 1, 2], [3000, 900, 10])
    rows = remembered_rows(labels, limit=1024)
    counts = np.bincount(labels[rows])
    assert len(rows) == len(set(rows)) <= 1025 and counts[2] >= 1
    assert counts[0] / counts[1] == pytest.approx(3000 / 900, rel=0.05)
    assert list(remembered_rows(np.array([0, 1, 1]))) == [0, 1, 2]


def test_familiarity_is_the_share_of_known_pictures_that_look_less_familiar():
    remembered = unit_length(torch.eye(4)[:2])  # two training pictures
    known = nearest_similarity(torch.tensor([[1.0, 0.1, 0, 0], [0.2, 1.0, 0.5, 0], [1, 1, 1, 1.0]]), remembered)
    known = known.sort().values
    asked = torch.tensor([[2.0, 0, 0, 0], [0, 0, 0, 1.0]])  # a training picture again; one unlike both
    assert familiarity(nearest_similarity(asked, remembered), known).tolist() == [1.0, 0.0]


class Body(torch.nn.Module):
    spec = None

    def forward(self, x):
        return x


def test_the_answering_model_scales_the_logits_and_says_how_familiar():
    classifier = torch.nn.Module()
    classifier.backbone, classifier.head = Body(), torch.nn.Linear(4, 2)
    answers = Answers(temperature=2.0, remembered=unit_length(torch.eye(4)[:2]), known_scores=torch.tensor([0.5, 0.9]))
    x = torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    logits, familiar = AnsweringModel(classifier, answers)(x)
    assert torch.allclose(logits * 2, classifier.head(x)) and familiar.tolist() == [1.0, 0.0]
    plain_logits, plain_familiar = AnsweringModel(classifier, Answers())(x)  # a model saved before answers
    assert torch.allclose(plain_logits, classifier.head(x)) and plain_familiar.tolist() == [1.0, 1.0]
    restored = Answers.from_meta(answers.to_meta())
    assert restored.temperature == 2.0 and restored.knows_familiarity and Answers.from_meta(None).temperature == 1.0


def test_the_answer_is_none_below_the_familiarity_threshold_or_a_class_own_confidence():
    top = [{"label": "cat", "probability": 0.9}, {"label": "dog", "probability": 0.1}]
    assert sure_answer(top, 0.5, 0.02, 0.05) == {"label": None, "sure": False, "familiar": 0.02}
    assert sure_answer(top, 0.5, 0.3, 0.05) == {"label": "cat", "sure": True, "familiar": 0.3}
    assert sure_answer(top, 0.5) == {"label": "cat", "sure": True}
    assert sure_answer(top, 0.5, class_min_confidence={"cat": 0.95})["sure"] is False
    assert sure_answer(top, 0.95, class_min_confidence={"cat": 0.8})["sure"] is True


def test_a_trained_run_keeps_its_answers_and_tells_noise_from_its_classes(shapes_run, tmp_path):
    status = RunFolder(shapes_run.run_dir).read_status()
    assert status["temperature"] > 0 and 0 <= status["ece_after"] <= 1 and 0 <= status["ece_before"] <= 1
    bins = RunFolder(shapes_run.run_dir).read_json(RunFolder.RELIABILITY)
    assert set(bins) == {"before", "after"} and bins["after"]
    predictor = Predictor(shapes_run.run_dir)
    assert predictor.familiar_threshold == pytest.approx(0.05)
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(noise)
    pictures = sorted(shapes_run.data.rglob("*.png"))
    said = [predictor.predict_file(path) for path in [noise, *pictures]]
    assert said[0]["familiar"] < predictor.familiar_threshold
    known = [s["familiar"] for s in said[1:]]
    assert np.mean(np.array(known) < predictor.familiar_threshold) <= 0.1  # its own pictures look familiar
    kept = json.loads((shapes_run.run_dir / "predictions.json").read_text())["pictures"]
    assert all(max(p["probabilities"]) < 1.0 for p in kept)  # scaled as the answers are

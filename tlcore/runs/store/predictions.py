"""The kept model's answer for every validation picture, kept in the run folder (predictions.json):
what a confusion matrix's cells, the mistakes and a class's pictures are read from, by this page or
another browser, after a restart as before it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlcore.data.manifest import Sample
from tlcore.runs.store.folder import RunFolder


@dataclass(frozen=True)
class Prediction:
    """One validation picture: where it is, its class, the model's answer and how sure it was."""

    path: str
    key: str  # its content key in the image cache
    true: int
    predicted: int
    probabilities: tuple[float, ...]

    @property
    def confidence(self) -> float:
        """The probability of the class it was given."""
        return self.probabilities[self.predicted]

    @property
    def right(self) -> bool:
        return self.true == self.predicted


def write_predictions(run_dir: Path, samples: list[Sample], classes: list[str], probabilities: np.ndarray) -> None:
    """Keep the kept model's probabilities for the validation samples (in their order)."""
    if len(samples) != len(probabilities):
        raise ValueError(f"{len(probabilities)} answers for {len(samples)} validation pictures")
    RunFolder(run_dir).write_json(RunFolder.PREDICTIONS, {
        "classes": list(classes),
        "pictures": [{"path": s.path, "key": s.key, "true": int(s.label),
                      "probabilities": [round(float(p), 5) for p in row]}
                     for s, row in zip(samples, probabilities)]})


def read_predictions(run_dir: Path) -> tuple[list[str], list[Prediction]] | None:
    """The classes and every picture's prediction; None when the run has none or they are damaged."""
    values = RunFolder(run_dir).read_json(RunFolder.PREDICTIONS)
    try:
        classes = [str(name) for name in values["classes"]]
        found = []
        for item in values["pictures"]:
            probabilities = tuple(float(p) for p in item["probabilities"])
            true = int(item["true"])
            if len(probabilities) != len(classes) or not 0 <= true < len(classes):
                return None
            found.append(Prediction(str(item["path"]), str(item["key"]), true, int(np.argmax(probabilities)),
                                    probabilities))
    except (TypeError, KeyError, ValueError):
        return None
    return classes, found


def in_cell(predictions: list[Prediction], true: int, predicted: int) -> list[Prediction]:
    """The pictures of one confusion-matrix cell, the most confident first."""
    return sorted((p for p in predictions if p.true == true and p.predicted == predicted),
                  key=lambda p: p.confidence, reverse=True)


def of_class(predictions: list[Prediction], true: int) -> list[Prediction]:
    """A class's pictures: its mistakes first (the surest first), then the right ones, the least sure first."""
    mine = [p for p in predictions if p.true == true]
    return sorted(mine, key=lambda p: (p.right, -p.confidence if not p.right else p.confidence))


def mistakes(predictions: list[Prediction]) -> list[Prediction]:
    """Every wrong answer, the most confidently wrong first."""
    return sorted((p for p in predictions if not p.right), key=lambda p: p.confidence, reverse=True)

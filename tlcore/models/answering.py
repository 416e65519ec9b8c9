"""The answers a model gives, made honest: probabilities scaled by the run's fitted temperature, and how
familiar a picture looks, so a picture unlike every class can be answered "none of these".

Familiarity is the cosine similarity of a picture's features to those of the nearest training picture
kept with the model (a nearest-neighbour score, as in Sun et al. 2022, "Out-of-Distribution Detection
with Deep Nearest Neighbors"), given as the share of the validation pictures (of known classes) that
look less familiar: 0.3 means 30% of them were further from every training picture. Chosen by
measurement against the top probability and the distance to class means (docs/benchmarks.md, issue 30).

The same module answers in the studio (tlcore.serve.predictor) and in every export (its outputs are
(logits, familiar)), so the command line, predict.py and the web page give the same answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

REMEMBERED_LIMIT = 1024  # training pictures kept for the score: 5 MB of features at 1280 numbers each
FAMILIAR_THRESHOLD = 0.05  # "none of these" below: less familiar than 95% of the known validation pictures


@dataclass
class Answers:
    """What a run fitted after training to make its answers honest."""

    temperature: float = 1.0
    remembered: torch.Tensor | None = None  # [M, D] unit-length features of training pictures
    known_scores: torch.Tensor | None = None  # [V] sorted nearest similarities of the validation pictures
    familiar_threshold: float = FAMILIAR_THRESHOLD

    @property
    def knows_familiarity(self) -> bool:
        return self.remembered is not None and len(self.remembered) > 0 and \
            self.known_scores is not None and len(self.known_scores) > 0

    @property
    def threshold_in_use(self) -> float | None:
        """The familiarity below which to answer "none of these"; None when the model cannot tell."""
        return self.familiar_threshold if self.knows_familiarity else None

    def to_meta(self) -> dict:
        return {"temperature": float(self.temperature), "remembered": self.remembered,
                "known_scores": self.known_scores, "familiar_threshold": float(self.familiar_threshold)}

    @classmethod
    def from_meta(cls, meta: dict | None) -> "Answers":
        """From a checkpoint's meta; a model saved before answers were fitted answers as it always did."""
        if not isinstance(meta, dict):
            return cls()
        return cls(temperature=float(meta.get("temperature", 1.0)), remembered=meta.get("remembered"),
                   known_scores=meta.get("known_scores"),
                   familiar_threshold=float(meta.get("familiar_threshold", FAMILIAR_THRESHOLD)))


def unit_length(features: torch.Tensor) -> torch.Tensor:
    return features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)


def nearest_similarity(features: torch.Tensor, remembered: torch.Tensor) -> torch.Tensor:
    """Per picture, the cosine similarity to the nearest remembered training picture."""
    return (unit_length(features.float()) @ remembered.T).max(dim=1).values


def familiarity(scores: torch.Tensor, known_scores: torch.Tensor) -> torch.Tensor:
    """The share of the known validation pictures whose score is below each picture's (0 to 1)."""
    return (scores[:, None] > known_scores[None, :]).float().mean(dim=1)


class AnsweringModel(nn.Module):
    """A classifier and its Answers: normalized float NCHW -> (logits over the temperature, familiarity).

    softmax of the logits gives the calibrated probabilities; familiarity is 1 for every picture when the
    run kept no training pictures to compare with (a model saved before they were kept, or cancelled)."""

    def __init__(self, classifier: nn.Module, answers: Answers):
        super().__init__()
        self.classifier = classifier
        self.knows_familiarity = answers.knows_familiarity
        self.register_buffer("temperature", torch.tensor(float(answers.temperature), dtype=torch.float32))
        if self.knows_familiarity:
            self.register_buffer("remembered", answers.remembered.float())
            self.register_buffer("known_scores", answers.known_scores.float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.classifier.backbone(x)
        logits = self.classifier.head(features) / self.temperature
        if not self.knows_familiarity:
            return logits, torch.ones_like(logits[:, 0])
        return logits, familiarity(nearest_similarity(features, self.remembered), self.known_scores)

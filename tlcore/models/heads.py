"""Heads registry: the new last layer that turns a backbone's features into a person's classes.

Each head is registered once with its words for people and a builder; the config, the CLI and the
Train page read this registry, and nothing else in the studio branches on head names.
"""
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tlcore.config import ConfigError
from tlcore.models.logistic import fit_logistic

HeadBuilder = Callable[[int, int], nn.Module]  # (feature_dim, num_classes) -> module


@dataclass(frozen=True)
class HeadSpec:
    name: str
    title: str  # plain words for the Train page
    summary: str
    build: HeadBuilder
    solved: bool = False  # solved for on the training features in one go, not stepped by an optimizer


_HEADS: dict[str, HeadSpec] = {}


def register_head(name: str, *, title: str, summary: str, solved: bool = False) -> Callable[[HeadBuilder], HeadBuilder]:
    def decorate(build: HeadBuilder) -> HeadBuilder:
        if name in _HEADS:
            raise ValueError(f"Head '{name}' is already registered.")  # a bug of the registry's own
        _HEADS[name] = HeadSpec(name, title, summary, build, solved)
        return build
    return decorate


def list_heads() -> list[HeadSpec]:
    return list(_HEADS.values())


def get_head(name: str) -> HeadSpec:
    """The head's spec; an unknown name raises ConfigError naming the known ones."""
    if name not in _HEADS:
        raise ConfigError(f"Unknown head '{name}'; choose one of {', '.join(_HEADS)}.")
    return _HEADS[name]


def create_head(name: str, feature_dim: int, num_classes: int) -> nn.Module:
    return get_head(name).build(feature_dim, num_classes)


@register_head("linear", title="one layer (linear)",
               summary="One weighted sum of the features per class: fast, and enough when the features are good.")
def linear(feature_dim: int, num_classes: int) -> nn.Module:
    return nn.Linear(feature_dim, num_classes)


@register_head("mlp", title="two layers (small MLP)",
               summary="A hidden layer of 256 units first, for classes the features do not separate with one sum.")
def mlp(feature_dim: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(feature_dim, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, num_classes))


class Prototypes(nn.Module):
    """Nearest class mean: each class is the mean of its pictures' L2-normalised features (its
    prototype), and a picture's score for a class is the cosine similarity to it, times a learned
    temperature (Snell et al. 2017; with cosine similarity as in Chen et al. 2019 and Tian et al. 2020).

    The prototypes are computed, not learned: the loop calls fit_to() with the training features at
    the start of each phase, so "training" costs one pass over the features. Only the temperature,
    which sets how sure the probabilities are and never changes which class wins, is learned.
    """

    def __init__(self, feature_dim: int, num_classes: int, scale: float = 10.0):
        super().__init__()
        self.register_buffer("prototypes", torch.zeros(num_classes, feature_dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    @torch.no_grad()
    def fit_to(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Set each class's prototype to the mean of its normalised features (a class without any keeps zeros)."""
        normalised = F.normalize(features.float(), dim=1)
        sums = torch.zeros_like(self.prototypes).index_add_(0, labels.to(normalised.device), normalised)
        counts = torch.bincount(labels, minlength=len(self.prototypes)).clamp(min=1).to(sums)
        self.prototypes.copy_(sums / counts[:, None])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        similarity = F.normalize(features.float(), dim=1) @ F.normalize(self.prototypes, dim=1).t()
        return self.log_scale.exp() * similarity


@register_head("prototypes", title="class averages (prototypes)",
               summary="No weights to learn: each class is the average of its pictures' features, and a picture "
                       "goes to the closest average. Instant, and strong with a handful of pictures per class.")
def prototypes(feature_dim: int, num_classes: int) -> nn.Module:
    return Prototypes(feature_dim, num_classes)


class LogisticHead(nn.Linear):
    """A linear layer whose weights are solved for, not stepped: multinomial logistic regression on
    the training features, solved to convergence, with the strength of its L2 penalty chosen by
    cross-validation (tlcore.models.logistic). A phase on cached features solves it in one go
    (the loop calls solve()); a later phase that trains the body steps it like any linear head.
    """

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__(feature_dim, num_classes)
        self.register_buffer("l2", torch.tensor(float("nan")))  # the strength chosen; NaN until solved

    @torch.no_grad()
    def solve(self, features: torch.Tensor, labels: torch.Tensor, sample_weights: torch.Tensor | None = None,
              check=lambda: None) -> dict:
        """Fit to the training features; returns the figures of the fit (chosen strength, training loss).
        check() is called between solves and may raise to stop (a cancel)."""
        fit = fit_logistic(features, labels, self.out_features, sample_weights=sample_weights, check=check)
        self.weight.copy_(fit.weight)
        self.bias.copy_(fit.bias)
        self.l2.fill_(fit.l2)
        return {"train_loss": fit.train_loss, "train_acc": fit.train_acc, "l2": fit.l2,
                "l2_scores": {f"{l2:g}": score for l2, score in fit.scores.items()}}


@register_head("logistic", title="one layer, solved exactly (logistic regression)", solved=True,
               summary="The same one layer, solved to the end instead of learned in steps, with how strongly its "
                       "weights are held small (L2) chosen by trying several strengths on parts of your training "
                       "pictures (cross-validation). No learning rate or rounds to choose.")
def logistic(feature_dim: int, num_classes: int) -> nn.Module:
    return LogisticHead(feature_dim, num_classes)

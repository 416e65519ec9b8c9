"""Heads registry: the new last layer that turns a backbone's features into a person's classes.

Each head is registered once with its words for people and a builder; the config, the CLI and the
Train page read this registry, and nothing else in the studio branches on head names.
"""
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

HeadBuilder = Callable[[int, int], nn.Module]  # (feature_dim, num_classes) -> module


@dataclass(frozen=True)
class HeadSpec:
    name: str
    title: str  # plain words for the Train page
    summary: str
    build: HeadBuilder


_HEADS: dict[str, HeadSpec] = {}


def register_head(name: str, *, title: str, summary: str) -> Callable[[HeadBuilder], HeadBuilder]:
    def decorate(build: HeadBuilder) -> HeadBuilder:
        if name in _HEADS:
            raise ValueError(f"Head '{name}' is already registered.")
        _HEADS[name] = HeadSpec(name, title, summary, build)
        return build
    return decorate


def list_heads() -> list[HeadSpec]:
    return list(_HEADS.values())


def get_head(name: str) -> HeadSpec:
    """The head's spec; an unknown name raises ValueError naming the known ones."""
    if name not in _HEADS:
        raise ValueError(f"Unknown head '{name}'; choose one of {', '.join(_HEADS)}.")
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

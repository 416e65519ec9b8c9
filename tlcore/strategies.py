"""Strategies decide what trains, at which rate, and on what inputs. The loop never asks their names.

A strategy is a small function from a model and a config to a list of phases
(fastai's freeze -> fit -> unfreeze -> fit, written as data).
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .config import RunConfig
from .model import Classifier

HEAD_LR = 3e-3  # a fresh linear head on fixed features tolerates a high rate
BODY_LR_FACTOR = 0.1  # pretrained layers move ten times slower than the new head
WEIGHT_DECAY = 1e-4


@dataclass
class Phase:
    """A stretch of epochs with one set of trainable parameters."""

    name: str
    epochs: int
    inputs: str  # "embeddings": cached backbone features; "images": pixels through the whole model
    module: nn.Module  # maps this phase's inputs to logits
    param_groups: list[dict]
    train_modules: list[nn.Module] = field(default_factory=list)  # in train mode; all else stays in eval
    augment: bool = False
    # Pretrained BatchNorm statistics stay as they are: re-estimating them from a few small batches
    # of a new domain makes eval-mode outputs drift from what training saw (measured on Fashion-MNIST,
    # 40 images per class: 0.91 after three body epochs with them frozen, 0.86 re-estimated).
    freeze_norm_stats: bool = True


@dataclass(frozen=True)
class StrategySpec:
    name: str
    title: str
    summary: str
    pretrained: bool
    plan: Callable[[Classifier, RunConfig], list[Phase]]
    warm_up: bool = False  # head_epochs of head-only training come before config.epochs
    plain: str = ""  # the title in everyday words, for people who have not met the term


_STRATEGIES: dict[str, StrategySpec] = {}


def register_strategy(name: str, *, title: str, summary: str, pretrained: bool, warm_up: bool = False,
                      plain: str = ""):
    def decorator(plan):
        if name in _STRATEGIES:
            raise ValueError(f"Strategy '{name}' is already registered.")
        _STRATEGIES[name] = StrategySpec(name, title, summary, pretrained, plan, warm_up, plain or title)
        return plan
    return decorator


def get_strategy(name: str) -> StrategySpec:
    if name not in _STRATEGIES:
        raise ValueError(f"Unknown strategy '{name}'; choose one of {', '.join(_STRATEGIES)}.")
    return _STRATEGIES[name]


def list_strategies() -> list[StrategySpec]:
    return list(_STRATEGIES.values())


def set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(trainable)


def _head_phase(model: Classifier, epochs: int, lr: float) -> Phase:
    return Phase("head", epochs, "embeddings", model.head,
                 [{"params": list(model.head.parameters()), "lr": lr, "weight_decay": WEIGHT_DECAY}],
                 train_modules=[model.head])


@register_strategy("feature_extraction", title="Feature extraction", plain="Reuse what it already sees",
                   summary="Fast. The network stays as it is (frozen backbone): it describes each picture once, "
                           "and only a new last layer (head) learns your classes from those descriptions.",
                   pretrained=True)
def feature_extraction(model: Classifier, config: RunConfig) -> list[Phase]:
    set_trainable(model.backbone, False)
    return [_head_phase(model, config.epochs, config.lr or HEAD_LR)]


@register_strategy("fine_tune", title="Fine-tuning", plain="Adjust the whole network",
                   summary="Slower, often more accurate. The new last layer learns first (warm-up), then the whole "
                           "network adjusts a little to your pictures.",
                   pretrained=True, warm_up=True)
def fine_tune(model: Classifier, config: RunConfig) -> list[Phase]:
    set_trainable(model.backbone, False)
    phases = [_head_phase(model, config.head_epochs, HEAD_LR)] if config.head_epochs else []
    stages = model.backbone.stages()
    unfrozen = stages[-config.unfreeze_stages:] if config.unfreeze_stages else stages
    for stage in unfrozen:
        set_trainable(stage, True)
    head_lr = config.lr or 3e-4  # the head is already trained: a gentle rate keeps it from being knocked off
    body_params = [p for stage in unfrozen for p in stage.parameters()]
    phases.append(Phase(
        "body", config.epochs, "images", model,
        [{"params": list(model.head.parameters()), "lr": head_lr, "weight_decay": WEIGHT_DECAY},
         {"params": body_params, "lr": head_lr * BODY_LR_FACTOR, "weight_decay": WEIGHT_DECAY}],
        train_modules=[model.head, *unfrozen], augment=config.augment))
    return phases


@register_strategy("scratch", title="From scratch", plain="Start from nothing",
                   summary="For comparison. The same network starting from random numbers, to show what starting "
                           "from a trained one bought you.",
                   pretrained=False)
def scratch(model: Classifier, config: RunConfig) -> list[Phase]:
    set_trainable(model, True)
    return [Phase("all", config.epochs, "images", model,
                  [{"params": list(model.parameters()), "lr": config.lr or 1e-3, "weight_decay": WEIGHT_DECAY}],
                  train_modules=[model], augment=config.augment, freeze_norm_stats=False)]

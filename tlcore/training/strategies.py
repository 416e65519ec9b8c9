"""The strategy registry: the one place that names the ways to train, with their words and settings.

A strategy is a plan of phases (fastai's freeze -> fit -> unfreeze -> fit, written as data) plus
everything the config, the CLI, the Train page and the time estimate need to know about it: title,
plain words, when it helps, default epochs, what it trains, which extra inputs it needs and its own
settings with their ranges. None of those places tests a strategy's name; they read its spec.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from tlcore.config import ConfigError, RunConfig
from tlcore.models.classifier import Classifier
from tlcore.training import meta_practice
from tlcore.training.phases import Phase
from tlcore.training.terms import DomainAdversary, JointTask, L2SPPenalty

HEAD_LR = 3e-3  # a fresh linear head on fixed features tolerates a high rate
TUNED_HEAD_LR = 3e-4  # the head is already trained: a gentle rate keeps it from being knocked off
BODY_LR_FACTOR = 0.1  # pretrained layers move ten times slower than the new head
WEIGHT_DECAY = 1e-4

# Extra inputs a strategy may need, in words for the refusal when one is missing.
INPUT_WORDS = {"target": "a folder of pictures from where the model will be used (the target, --target)",
               "meta_sources": "one or more labelled datasets to draw its small practice tasks from "
                               "(meta-learning sources, --meta-source)"}


@dataclass(frozen=True)
class Setting:
    """One of a strategy's own settings, kept in RunConfig.options under ``key``."""

    key: str
    title: str  # plain words
    term: str  # the technical term, shown beside them
    default: float
    low: float
    high: float
    help: str
    flag: str  # the CLI's option, e.g. "--l2sp-alpha"
    integer: bool = False  # a count (episodes, classes): whole numbers only

    def problem(self, value) -> str | None:
        """Why a value cannot be used, in one sentence; None when it can."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{self.title} ({self.term}) must be a number."
        if self.integer and value != int(value):
            return f"{self.title} ({self.term}) must be a whole number, not {value:g}."
        if not self.low <= value <= self.high:
            return f"{self.title} ({self.term}) must be between {self.low:g} and {self.high:g}, not {value:g}."
        return None


@dataclass(frozen=True)
class StrategySpec:
    name: str
    title: str
    plain: str  # the title in everyday words, for people who have not met the term
    summary: str
    when: str  # when it helps, one sentence
    plan: Callable[[Classifier, RunConfig, PlanInputs], list[Phase]]
    pretrained: bool = True  # starts from pretrained weights
    default_epochs: int = 10
    trains_body: bool = False  # pictures go through the whole network every epoch (augmentation applies)
    warm_up: bool = False  # head_epochs of head-only training on cached features come before config.epochs
    trains_norm_stats: bool = False  # BatchNorm statistics are re-averaged every epoch
    # Each training step also pulls every trained weight toward its starting value (L2-SP's penalty): a
    # forward and backward pass over all the weights, which the time estimate counts per step.
    pulls_weights: bool = False
    needs: tuple[str, ...] = ()  # extra inputs, keys of INPUT_WORDS
    streams: tuple[str, ...] = ()  # extra batch streams its body phase draws each step
    settings: tuple[Setting, ...] = ()
    before: Practice | None = None  # work before its phases, on pictures of its own

    @property
    def splits_across_processes(self) -> bool:
        """Whether several processes can train it together: it adjusts the network (there is work to share)
        and draws no extra pictures each step."""
        return self.trains_body and not self.needs and not self.streams

    def adapts_norm_statistics(self, options: dict) -> bool:
        """Whether a run with these options measures the body's BatchNorm statistics on its training
        pictures before its feature pass (tlcore.training.norm_statistics)."""
        return any(s.key == ADAPT_NORM.key for s in self.settings) and bool(self.value(options, ADAPT_NORM.key))

    def option(self, config: RunConfig, key: str) -> float:
        """The value of one of this strategy's settings in a config: the person's, else the default."""
        return self.value(config.options, key)

    def value(self, options: dict, key: str) -> float:
        """The value of one of this strategy's settings among chosen options: the person's, else the default."""
        setting = next(s for s in self.settings if s.key == key)
        value = options.get(key, setting.default)
        return int(value) if setting.integer else value

    def load_practice(self, config: RunConfig, cache, progress):
        """The practice's pictures, read and checked before the network is built (a refusal costs nothing)."""
        return self.before.load(self, config, cache, progress)

    def practise(self, model: Classifier, config: RunConfig, loaded, *, device, should_stop, report) -> dict:
        """The practice on the model, reported as "on_practice" events; returns the figures that sum it up."""
        return self.before.run(self, model, config, loaded, device=device, should_stop=should_stop, report=report)

    def practice_work(self, options: dict) -> tuple[int, int]:
        """(pictures stepped on, pictures only checked) by the practice, for the time estimate; (0, 0) without."""
        return self.before.work(self, options) if self.before else (0, 0)


@dataclass(frozen=True)
class Practice:
    """Work a strategy does before its phases, on pictures of its own (meta-learning's episodes).

    Each callable takes the strategy's spec first: load(spec, config, cache, progress) -> what run needs;
    run(spec, model, config, loaded, *, device, should_stop, report) -> status fields;
    work(spec, options) -> (pictures stepped on, pictures only checked).
    """

    load: Callable
    run: Callable
    work: Callable


@dataclass(frozen=True)
class PlanInputs:
    """What a plan is given besides the model and the config: facts known once the run's data is read."""

    joint_classes: int = 0  # classes of a second labelled dataset trained at the same time (0: none)
    device: object = "cpu"  # where the modules a plan adds (a domain classifier, a joint head) live


_STRATEGIES: dict[str, StrategySpec] = {}


def register_strategy(name: str, **fields):
    def decorator(plan):
        if name in _STRATEGIES:
            raise ValueError(f"Strategy '{name}' is already registered.")  # a bug of the registry's own
        _STRATEGIES[name] = StrategySpec(name=name, plan=plan, **fields)
        return plan
    return decorator


def get_strategy(name: str) -> StrategySpec:
    if name not in _STRATEGIES:
        raise ConfigError(f"Unknown strategy '{name}'; choose one of {', '.join(_STRATEGIES)}.")
    return _STRATEGIES[name]


def list_strategies() -> list[StrategySpec]:
    return list(_STRATEGIES.values())


def with_joint_task(phase: Phase, model: Classifier, inputs: PlanInputs) -> Phase:
    """A phase on pictures that also learns the second dataset of joint training ("joint" stream), when the
    run has one, through a head of its own that starts fresh and learns at a fresh head's rate."""
    if not inputs.joint_classes:
        return phase
    task = JointTask(model.backbone.spec.feature_dim, inputs.joint_classes).to(inputs.device)
    phase.terms.append(task)
    phase.streams = (*phase.streams, task.stream)
    phase.param_groups.append({"params": list(task.parameters()), "lr": HEAD_LR, "weight_decay": WEIGHT_DECAY})
    phase.train_modules.append(task)
    return phase


def set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(trainable)


def head_phase(model: Classifier, epochs: int, lr: float) -> Phase:
    """The head alone on cached features. A head that is solved for (logistic regression) needs one
    epoch, whatever the count asked for: solving again on the same features gives the same head."""
    solved = hasattr(model.head, "solve")
    return Phase("head", min(epochs, 1) if solved else epochs, "embeddings", nn.Identity(), model.head,
                 [{"params": list(model.head.parameters()), "lr": lr, "weight_decay": WEIGHT_DECAY}],
                 train_modules=[model.head], solved=solved)


def unfreeze(model: Classifier, config: RunConfig) -> list[nn.Module]:
    """Make the last config.unfreeze_stages stages trainable (0: the whole body); returns them."""
    set_trainable(model.backbone, False)
    stages = model.backbone.stages()
    unfrozen = stages[-config.unfreeze_stages:] if config.unfreeze_stages else stages
    for stage in unfrozen:
        set_trainable(stage, True)
    return unfrozen


def warm_up_phases(model: Classifier, config: RunConfig) -> list[Phase]:
    set_trainable(model.backbone, False)
    return [head_phase(model, config.head_epochs, HEAD_LR)] if config.head_epochs else []


def body_phase(model: Classifier, config: RunConfig, unfrozen: list[nn.Module], inputs: PlanInputs, *,
               weight_decay: float = WEIGHT_DECAY, **extra) -> Phase:
    head_lr = config.lr or TUNED_HEAD_LR
    body_params = [p for stage in unfrozen for p in stage.parameters()]
    return with_joint_task(Phase(
        "body", config.epochs, "images", model.backbone, model.head,
        [{"params": list(model.head.parameters()), "lr": head_lr, "weight_decay": weight_decay},
         {"params": body_params, "lr": head_lr * BODY_LR_FACTOR, "weight_decay": weight_decay}],
        train_modules=[model.head, *unfrozen], augment=config.augment, **extra), model, inputs)


# Off by default: it lowered accuracy in all 24 measured pairs (2 sets, 2 networks, 10 and 40 per class, 3
# seeds; mean -7.6 points; docs/benchmarks.md, issue 30, bench/norm_statistics.py).
ADAPT_NORM = Setting(
    "adapt_norm", "Measure your pictures' averages first", "BatchNorm statistics adapted, AdaBN", 0, 0, 1,
    "Lowered accuracy in every case measured so far. 1: before it describes your pictures, the network "
    "measures the averages its layers normalize by "
    "(BatchNorm statistics) on your training pictures instead of keeping ImageNet's; one more pass over the "
    "training pictures, and the validation pictures never count. 0: ImageNet's, as the network came. "
    "Networks without BatchNorm (ViTs) are unchanged either way.", "--adapt-norm", integer=True)


@register_strategy(
    "feature_extraction", title="Feature extraction", plain="Reuse what it already sees", default_epochs=20,
    summary="Fast. The network stays as it is (frozen backbone): it describes each picture once, and only a "
            "new last layer (head) learns your classes from those descriptions.",
    when="First, always: seconds to train, and often as good as anything when your pictures look like "
         "everyday photos.",
    settings=(ADAPT_NORM,))
def feature_extraction(model: Classifier, config: RunConfig, inputs: PlanInputs) -> list[Phase]:
    set_trainable(model.backbone, False)
    return [head_phase(model, config.epochs, config.lr or HEAD_LR)]


# Ten body epochs: with three, the body gained nothing on its warm-up on two of three sets; with ten it
# gained on all three, 0.9 to 6 points (docs/benchmarks.md, issue 17, bench/fine_tune_study.py).
@register_strategy(
    "fine_tune", title="Fine-tuning", plain="Adjust the whole network", default_epochs=10, trains_body=True,
    warm_up=True,
    summary="Slower, often more accurate. The new last layer learns first (warm-up), then the whole network "
            "adjusts a little to your pictures.",
    when="When feature extraction is not good enough and you have a few dozen pictures per class or more.")
def fine_tune(model: Classifier, config: RunConfig, inputs: PlanInputs) -> list[Phase]:
    phases = warm_up_phases(model, config)
    return [*phases, body_phase(model, config, unfreeze(model, config), inputs)]


@register_strategy(
    "l2_sp", title="Fine-tuning, anchored to the pretrained weights", plain="Adjust, but stay close to what it knew",
    default_epochs=3, trains_body=True, warm_up=True, pulls_weights=True,
    summary="Fine-tuning where each weight is pulled back toward its pretrained value rather than toward zero "
            "(L2-SP), so the network keeps what it learned on ImageNet while it adapts.",
    when="With few pictures per class on a task close to ImageNet's photos and long training, where plain "
         "fine-tuning drifts far from what it knew; in short runs it scores like plain fine-tuning (measured).",
    settings=(
        Setting("alpha", "Pull toward the pretrained weights", "L2-SP alpha", 0.1, 0.0, 100.0,
                "Strength of the penalty alpha/2 * ||w - w0||^2 on the body's weights w, toward their "
                "pretrained values w0. 0 lets the body drift freely. Paper default 0.1.", "--l2sp-alpha"),
        Setting("beta", "Pull of the new last layer toward zero", "L2-SP beta", 0.01, 0.0, 100.0,
                "Strength of the ordinary penalty beta/2 * ||w||^2 on the new head, which has no pretrained "
                "values to return to. Paper default 0.01.", "--l2sp-beta"),
    ))
def l2_sp(model: Classifier, config: RunConfig, inputs: PlanInputs) -> list[Phase]:
    phases = warm_up_phases(model, config)
    unfrozen = unfreeze(model, config)
    spec = get_strategy(config.strategy)
    penalty = L2SPPenalty([p for stage in unfrozen for p in stage.parameters()], list(model.head.parameters()),
                          alpha=spec.option(config, "alpha"), beta=spec.option(config, "beta"))
    # The penalty replaces weight decay: decay would pull the body toward zero, the opposite of the point.
    return [*phases, body_phase(model, config, unfrozen, inputs, weight_decay=0.0, terms=[penalty])]


@register_strategy(
    "domain_adaptation", title="Domain alignment (DANN)", plain="Learn to ignore where the pictures come from",
    default_epochs=5, trains_body=True, warm_up=True, needs=("target",), streams=("target",),
    summary="Fine-tuning with a second, unlabelled set of pictures from where the model will be used. A small "
            "extra judge tries to tell which set each picture comes from, and the network learns to describe "
            "pictures so that the judge cannot (a domain classifier trained through gradient reversal), so what "
            "it learned on your labelled pictures carries over. It keeps the last round's model, the most "
            "aligned one.",
    when="When the pictures the model will meet look different from the ones you labelled (another camera, "
         "lighting or background) and you have some of them, even without labels.",
    settings=(
        Setting("domain_weight", "Strength of the alignment", "DANN lambda", 1.0, 0.0, 10.0,
                "How hard the network works at making the two sets look alike by the end of training; it "
                "starts from nothing and grows over the rounds (the weight of the domain classifier's "
                "reversed gradient, rising as 2/(1+exp(-10p)) - 1; the paper uses 1).", "--dann-weight"),
    ))
def domain_adaptation(model: Classifier, config: RunConfig, inputs: PlanInputs) -> list[Phase]:
    phases = warm_up_phases(model, config)
    unfrozen = unfreeze(model, config)
    weight = get_strategy(config.strategy).option(config, "domain_weight")
    adversary = DomainAdversary(model.backbone.spec.feature_dim, "target", weight).to(inputs.device)
    body = body_phase(model, config, unfrozen, inputs, terms=[adversary], streams=("target",), keeps_last=True)
    # The domain classifier starts from nothing: it learns at the rate of a fresh head.
    body.param_groups.append({"params": list(adversary.parameters()), "lr": HEAD_LR * 0.3,
                              "weight_decay": WEIGHT_DECAY})
    body.train_modules.append(adversary)
    return [*phases, body]


@register_strategy(
    "meta_learning", title="Meta-learning (Reptile)", plain="Practise on small tasks first",
    default_epochs=3, trains_body=True, warm_up=True, needs=("meta_sources",),
    before=Practice(load=meta_practice.load_pools, run=meta_practice.practise, work=meta_practice.practice_work),
    summary="Before it meets your classes, the network practises on hundreds of small quizzes made from other "
            "labelled pictures: a few classes, a few pictures of each (N classes, K pictures each). It adapts "
            "to each quiz in a few steps, and after each one its starting point moves a little toward what "
            "worked (the Reptile method). Then it is fine-tuned on your pictures. The practice trains the "
            "network's last block and a last layer.",
    when="With a handful of pictures per class and a related labelled dataset to practise on; compare it with "
         "class averages (prototypes), which need no practice at all.",
    settings=(
        Setting("episodes", "Small practice tasks", "meta-learning episodes", 200, 1, 100_000,
                "How many small quizzes to practise on before training on your pictures (episodes of N "
                "classes with K pictures each: N-way, K-shot).", "--meta-episodes",
                integer=True),
        Setting("ways", "Classes in each practice task", "N-way", 5, 2, 100,
                "Each task is a choice among this many classes drawn from a meta-learning source, which must "
                "have at least as many.", "--meta-ways", integer=True),
        Setting("shots", "Pictures per class to learn each task from", "K-shot", 5, 1, 100,
                "Each task adapts on this many pictures of each class (and is checked on up to 15 others); "
                "every class of the sources needs at least one more than this.", "--meta-shots", integer=True),
        Setting("inner_steps", "Steps to adapt to each task", "inner steps", 5, 1, 100,
                "How many learning steps each task adapts in; the paper uses 5 to 10.", "--meta-inner-steps",
                integer=True),
        Setting("inner_lr", "Size of each adapting step", "inner learning rate", 1e-3, 1e-6, 1.0,
                "How big each learning step within a quiz is (Adam's rate, without momentum as in the Reptile "
                "paper's code).", "--meta-inner-lr"),
        Setting("outer_lr", "How far the start moves toward each adapted model", "outer step size", 0.5, 0.0, 1.0,
                "The share of the way the starting point moves toward what a quiz taught, shrinking to 0 over "
                "the practice as in the paper (Reptile's epsilon).", "--meta-outer-lr"),
    ))
def meta_learning(model: Classifier, config: RunConfig, inputs: PlanInputs) -> list[Phase]:
    # The practice comes first (its Practice, before the phases); what it leaves in the body is then
    # fine-tuned like any start.
    return fine_tune(model, config, inputs)


@register_strategy(
    "scratch", title="From scratch", plain="Start from nothing", pretrained=False, default_epochs=10,
    trains_body=True, trains_norm_stats=True,
    summary="For comparison. The same network starting from random numbers, to show what starting from a "
            "trained one bought you.",
    when="To measure what pretraining buys; rarely the best choice with fewer than thousands of pictures.")
def scratch(model: Classifier, config: RunConfig, inputs: PlanInputs) -> list[Phase]:
    set_trainable(model, True)
    return [with_joint_task(Phase(
        "all", config.epochs, "images", model.backbone, model.head,
        [{"params": list(model.parameters()), "lr": config.lr or 1e-3, "weight_decay": WEIGHT_DECAY}],
        train_modules=[model], augment=config.augment, freeze_norm_stats=False), model, inputs)]

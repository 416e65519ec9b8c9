"""Meta-learning with Reptile (Nichol, Achiam and Schulman 2018): a starting point learned from many
small tasks, so that a few steps on a new task are enough.

Each episode is an N-way K-shot task drawn from the meta-source pictures: N classes, K pictures of
each to adapt on (the support set) and a few more of each to measure the adapted model on (the query
set). The model adapts to the support set in a few inner steps; then its starting weights move a
fraction of the way toward the adapted ones (the outer step). Reptile needs no second derivatives,
which is what makes it affordable on a laptop's processor.

What is meta-trained is the body's last stage and an N-way head (Finn et al. 2017 train the whole
network; the cost is the same question as for fine-tuning, and the last stage is where a pretrained
network's features become task-specific). As in fine-tuning, the pretrained stage adapts ten times
slower than the head: at the head's rate, 200 episodes carried it far toward the practice classes
and away from everything else (measured: 0.66 against fine-tuning's 0.79 at 5 pictures per class).
The earlier stages stay frozen and their BatchNorm statistics as they are, as in fine-tuning.
Classes go to head slots in a new random order each episode, so the head learns a starting point
that suits any class, not particular ones.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tlcore.config import ConfigError
from tlcore.training.loop import StopRequested, TrainingFailed

QUERIES_PER_CLASS = 15  # the query set's pictures per class, as in Finn et al. and most few-shot work
BODY_RATE_FACTOR = 0.1  # as in fine-tuning: the pretrained stage adapts ten times slower than the head
MAX_TASK_PICTURES = 1000  # N x K pictures go through the network in one step: more would not fit a laptop


@dataclass(frozen=True)
class MetaSettings:
    episodes: int
    ways: int  # N: classes per task
    shots: int  # K: pictures per class to adapt on
    inner_steps: int
    inner_lr: float
    outer_lr: float  # the share of the way toward the adapted weights, at the first episode (annealed to 0)


@dataclass(frozen=True)
class Pool:
    """One meta-source dataset's pictures, for drawing episodes."""

    name: str
    classes: list[str]
    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int64 [N], indices into classes


@dataclass(frozen=True)
class Episode:
    support: np.ndarray  # indices into the pool's pictures
    support_labels: np.ndarray  # 0..ways-1
    query: np.ndarray
    query_labels: np.ndarray


def check_pools(counts: dict[str, dict[str, int]], ways: int, shots: int) -> None:
    """Refuse, in words, meta-sources that cannot give N-way K-shot episodes with at least one query picture.

    Args:
        counts: per meta-source name, pictures per class.
    """
    if ways * shots > MAX_TASK_PICTURES:
        raise ConfigError(f"Tasks of {ways} classes with {shots} pictures each take {ways * shots} pictures in one "
                          f"step, more than the {MAX_TASK_PICTURES} a laptop's memory holds; choose fewer classes "
                          "or pictures per task.")
    if not counts:
        raise ConfigError("Meta-learning needs at least one labelled dataset to draw its small tasks from "
                          "(--meta-source).")
    for name, per_class in counts.items():
        if len(per_class) < ways:
            raise ConfigError(f"'{name}' has {len(per_class)} classes, but each small task (episode) needs {ways} "
                              f"({ways}-way): choose fewer classes per task, or a dataset with more classes.")
        smallest, fewest = min(per_class.items(), key=lambda item: item[1])
        if fewest < shots + 1:
            raise ConfigError(f"In '{name}' the class '{smallest}' has {fewest} pictures, but each task takes {shots} "
                              f"per class to learn from ({shots}-shot) and at least one more to check on: choose "
                              f"fewer pictures per class (at most {max(fewest - 1, 0)}), or add pictures.")


def queries_per_class(pools: list[Pool], shots: int) -> int:
    """Query pictures per class: QUERIES_PER_CLASS, or what the smallest class leaves after the support."""
    smallest = min(int(np.bincount(pool.labels).min()) for pool in pools)
    return max(1, min(QUERIES_PER_CLASS, smallest - shots))


class EpisodeSampler:
    """Draws N-way K-shot episodes: a pool (in proportion to its size), N of its classes, K + Q pictures each."""

    def __init__(self, pools: list[Pool], ways: int, shots: int, queries: int, rng: np.random.Generator):
        self.pools, self.ways, self.shots, self.queries, self.rng = pools, ways, shots, queries, rng
        self.by_class = [[np.flatnonzero(pool.labels == c) for c in range(len(pool.classes))] for pool in pools]
        sizes = np.array([len(pool.labels) for pool in pools], dtype=float)
        self.pool_weights = sizes / sizes.sum()

    def __call__(self) -> tuple[Pool, Episode]:
        which = int(self.rng.choice(len(self.pools), p=self.pool_weights))
        members = self.by_class[which]
        classes = self.rng.choice([c for c, idx in enumerate(members) if len(idx) > self.shots], self.ways,
                                  replace=False)
        support, query = [], []
        for idx in (members[c] for c in classes):
            drawn = self.rng.choice(idx, min(len(idx), self.shots + self.queries), replace=False)
            support.append(drawn[:self.shots])
            query.append(drawn[self.shots:])
        return self.pools[which], Episode(
            np.concatenate(support), np.repeat(np.arange(self.ways), [len(s) for s in support]),
            np.concatenate(query), np.repeat(np.arange(self.ways), [len(q) for q in query]))


def inner_groups(stage: list[nn.Parameter], head: list[nn.Parameter], lr: float) -> list[dict]:
    """The inner loop's rates: the head at lr, the pretrained stage BODY_RATE_FACTOR times slower."""
    return [{"params": stage, "lr": lr * BODY_RATE_FACTOR}, {"params": head, "lr": lr}]


def adapt(model: nn.Module, params: list, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float) -> float:
    """A few steps of Adam on one task's support set, as Reptile's inner loop does; returns the last loss.

    Adam without momentum (beta1 = 0) and with fresh statistics each task, as the Reptile paper's code:
    nothing of one task's optimiser state leaks into the next.

    Args:
        params: parameters, or parameter groups with rates of their own (inner_groups).
    """
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.999))
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def reptile_step(model: nn.Module, params: list[nn.Parameter], support_x: torch.Tensor, support_y: torch.Tensor,
                 *, steps: int, inner_lr: float, outer_lr: float,
                 query: tuple[torch.Tensor, torch.Tensor] | None = None,
                 groups: list[dict] | None = None) -> tuple[float, float | None]:
    """One outer step: adapt to the support set, then move the start outer_lr of the way toward the result.

    theta <- theta + outer_lr * (theta' - theta), where theta' are the adapted weights.

    Returns:
        The last inner loss, and the adapted model's accuracy on the query set when one is given
        (how well the start adapts: meta-training's measure of progress).
    """
    start = [p.detach().clone() for p in params]
    loss = adapt(model, groups or params, support_x, support_y, steps=steps, lr=inner_lr)
    query_acc = accuracy_on(model, *query) if query is not None else None
    with torch.no_grad():
        for p, p0 in zip(params, start):
            p.copy_(p0 + outer_lr * (p - p0))
    return loss, query_acc


@torch.no_grad()
def accuracy_on(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def meta_train(body: nn.Module, last_stage: nn.Module, feature_dim: int, pools: list[Pool], settings: MetaSettings,
               *, prepare: Callable[[np.ndarray], torch.Tensor], rng: np.random.Generator,
               should_stop: Callable[[], bool] = lambda: False,
               on_episode: Callable[[int, float, float], None] = lambda *_: None) -> nn.Linear:
    """Reptile over settings.episodes episodes; updates last_stage (inside body) in place.

    Args:
        body: maps model input to features [B, feature_dim]; only last_stage's weights train.
        prepare: uint8 pictures -> model input on the device.
        on_episode: called after each episode with (episodes done, query accuracy after adapting, inner loss).

    Returns:
        The meta-learned N-way head (a starting point for a task of N classes).
    """
    device = next(last_stage.parameters()).device
    head = nn.Linear(feature_dim, settings.ways).to(device)
    nn.init.zeros_(head.weight)  # every slot starts equal: no class is favoured before the first step
    nn.init.zeros_(head.bias)
    learner = nn.Sequential(body, head)
    for p in body.parameters():
        p.requires_grad_(False)
    params = [*last_stage.parameters(), *head.parameters()]
    for p in params:
        p.requires_grad_(True)
    groups = inner_groups(list(last_stage.parameters()), list(head.parameters()), settings.inner_lr)
    learner.eval()  # BatchNorm statistics stay the pretrained ones, as in fine-tuning
    sampler = EpisodeSampler(pools, settings.ways, settings.shots, queries_per_class(pools, settings.shots), rng)
    try:
        for episode in range(settings.episodes):
            if should_stop():
                raise StopRequested()
            pool, task = sampler()
            support_x, query_x = prepare(pool.images[task.support]), prepare(pool.images[task.query])
            support_y = torch.from_numpy(task.support_labels).to(device)
            query_y = torch.from_numpy(task.query_labels).to(device)
            outer_lr = settings.outer_lr * (1 - episode / settings.episodes)  # annealed to 0, as in the paper
            loss, query_acc = reptile_step(learner, params, support_x, support_y, steps=settings.inner_steps,
                                           inner_lr=settings.inner_lr, outer_lr=outer_lr, query=(query_x, query_y),
                                           groups=groups)
            if not math.isfinite(loss):
                raise TrainingFailed("Meta-learning's loss is not a number: lower its inner rate (--meta-inner-lr).")
            on_episode(episode + 1, query_acc, loss)
    finally:
        for p in params:
            p.requires_grad_(False)
    return head

"""Loss terms a phase adds to the class loss: a penalty toward the pretrained weights (L2-SP), a
domain classifier behind a gradient-reversal layer (DANN), and a second labelled task (joint training).

A term is called once per training step with the step's tensors and returns a loss to add, plus
figures to report (summed over the epoch, then divided by their counts). The loop knows terms only
through that call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Step:
    """One training step as terms see it."""

    features: torch.Tensor  # the body's output on the labelled batch (embeddings for head-only phases)
    logits: torch.Tensor
    labels: torch.Tensor
    streams: dict[str, torch.Tensor]  # one prepared batch per extra stream the phase draws, by name
    progress: float  # 0 at the phase's first step, 1 at its last
    body: nn.Module  # maps a prepared batch to features, for terms that look at another stream
    stream_labels: dict[str, torch.Tensor] = field(default_factory=dict)  # zeros for a stream without labels


@dataclass
class TermOutput:
    loss: torch.Tensor
    figures: dict[str, tuple[float, int]] = field(default_factory=dict)  # name -> (sum, count) for the epoch


class L2SPPenalty(nn.Module):
    """alpha/2 * ||w - w0||^2 over the body's trainable weights, beta/2 * ||w||^2 over the head's.

    Li, Grandvalet & Davoine, "Explicit inductive bias for transfer learning with convolutional
    networks" (ICML 2018): the starting point, not zero, is the reference the body is pulled back to.
    w0 is copied when the term is made, so it must be made before the phase trains.
    """

    name = "l2_sp"

    def __init__(self, body_params: list[nn.Parameter], head_params: list[nn.Parameter], alpha: float, beta: float):
        super().__init__()
        self.body_params = list(body_params)
        self.head_params = list(head_params)
        self.alpha, self.beta = alpha, beta
        self.starting_point = [p.detach().clone() for p in self.body_params]

    def distance(self) -> torch.Tensor:
        """||w - w0|| over the body: how far fine-tuning moved it from where it started."""
        return self._squared_distance().sqrt()

    def _squared_distance(self) -> torch.Tensor:
        return squared_distance(self.body_params, self.starting_point)

    def forward(self, step: Step | None = None) -> TermOutput:
        head = sum((p.float() ** 2).sum() for p in self.head_params) if self.head_params else torch.zeros(())
        loss = 0.5 * self.alpha * self._squared_distance() + 0.5 * self.beta * head
        return TermOutput(loss, {"penalty": (float(loss.detach()), 1)})


def squared_distance(params: list[torch.Tensor], starting_point: list[torch.Tensor]) -> torch.Tensor:
    """||w - w0||^2 over parameters and their starting values (which may be kept on another device)."""
    if not params:
        return torch.zeros(())
    return sum(((p.float() - p0.to(p.device).float()) ** 2).sum() for p, p0 in zip(params, starting_point, strict=True))


class GradientReversal(torch.autograd.Function):
    """Identity on the way forward; on the way back the gradient is multiplied by -scale."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    return GradientReversal.apply(x, scale)


def dann_schedule(progress: float) -> float:
    """Ganin et al.'s lambda: 0 at the start, rising to 1 as 2/(1+exp(-10p)) - 1, so the domain
    classifier's noisy early signal does not knock the features about before it has learned."""
    return 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0


class DomainAdversary(nn.Module):
    """A small domain classifier on the features, behind a gradient-reversal layer (DANN).

    Ganin et al., "Domain-adversarial training of neural networks" (JMLR 2016). The classifier
    learns to tell labelled pictures (domain 0) from the target stream's pictures (domain 1); the
    reversed gradient teaches the body features that it cannot tell apart. Target labels never
    reach it: the stream carries pictures only.
    """

    name = "domain"

    def __init__(self, feature_dim: int, stream: str = "target", weight: float = 1.0, hidden: int = 256):
        super().__init__()
        self.stream = stream
        self.weight = weight
        self.classifier = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(hidden, 1))

    def forward(self, step: Step) -> TermOutput:
        target_features = step.body(step.streams[self.stream])
        features = torch.cat([step.features, target_features]).float()
        domains = torch.cat([torch.zeros(len(step.features)), torch.ones(len(target_features))]).to(features.device)
        scale = self.weight * dann_schedule(step.progress)
        scores = self.classifier(reverse_gradient(features, scale)).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(scores, domains)
        correct = ((scores > 0).float() == domains).sum().item()
        return TermOutput(loss, {"domain_loss": (loss.item() * len(domains), len(domains)),
                                 "domain_acc": (correct, len(domains)), "domain_lambda": (scale, 1)})


class JointTask(nn.Module):
    """A second labelled dataset trained at the same time as the first: its own head on the shared
    body, its class loss added to the step's (multi-task learning, Caruana 1997). The body learns
    features that serve both tasks instead of one after the other.
    """

    name = "joint"

    def __init__(self, feature_dim: int, num_classes: int, stream: str = "joint", weight: float = 1.0):
        super().__init__()
        self.stream = stream
        self.weight = weight
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, step: Step) -> TermOutput:
        logits = self.head(step.body(step.streams[self.stream])).float()
        labels = step.stream_labels[self.stream]
        loss = F.cross_entropy(logits, labels)
        correct = (logits.argmax(1) == labels).sum().item()
        return TermOutput(self.weight * loss, {"joint_loss": (loss.item() * len(labels), len(labels)),
                                               "joint_acc": (correct, len(labels))})

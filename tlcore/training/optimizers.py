"""How a phase steps: its optimizer and the share of its learning rate at each step."""
import math
from collections.abc import Callable

import torch

from tlcore.training.phases import Phase


def make_optimizer(phase: Phase) -> torch.optim.Optimizer:
    """AdamW by default; SGD with momentum where a phase asks for it (its rates are then SGD's rates)."""
    if phase.optimizer == "sgd":
        return torch.optim.SGD(phase.param_groups, momentum=0.9)
    return torch.optim.AdamW(phase.param_groups)


def rate_schedule(total_steps: int, warmup: float = 0.0) -> Callable[[int], float]:
    """The share of its learning rate a phase uses at each step.

    Cosine decay to a tenth settles the head without a tuning knob for people to get wrong. With a
    warm-up, the rate first climbs from a twenty-fifth over that share of the steps (a one-cycle
    schedule): Adam's first steps move every weight by about the full rate, too far for a network
    that already works.
    """
    rise = int(warmup * total_steps)

    def share(step: int) -> float:
        if step < rise:
            return 1 / 25 + (1 - 1 / 25) * step / rise
        done = min(step - rise, total_steps - rise) / max(total_steps - rise, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))
    return share

"""The weights of the best epoch yet, copied off the model without copying what the phase cannot change.

A phase on cached features trains a head of a few thousand numbers beside a network of millions that
stays as it is: copying the whole state at every better epoch cost more than the epoch itself in an
experiment's small runs. What a phase cannot change is copied once, at its first kept epoch; what it
trains, at every kept epoch.
"""
from __future__ import annotations

import torch
from torch import nn

from tlcore.training.phases import Phase


def changing_keys(model: nn.Module, phase: Phase) -> set[str]:
    """The model's state-dict keys that the phase may change: everything in the modules it trains and in its
    head (a head may be solved for or computed), and every BatchNorm statistic when they are re-estimated."""
    changing = [*phase.train_modules, phase.head]
    if not phase.freeze_norm_stats:
        changing += [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    # By tensor, not by module name: a stage is a grouping of the body's modules, not itself in the model.
    changing_tensors = {id(t) for m in changing for t in (*m.parameters(), *m.buffers())}
    named = (*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False))
    return {name for name, tensor in named if id(tensor) in changing_tensors}


class KeptState:
    """Copies of one model's state on the CPU, made for one phase (take() at each epoch worth keeping)."""

    def __init__(self, model: nn.Module, phase: Phase):
        self.model = model
        self.changing = changing_keys(model, phase)
        self.fixed: dict[str, torch.Tensor] | None = None

    def take(self) -> dict[str, torch.Tensor]:
        state = self.model.state_dict()
        if self.fixed is None:
            self.fixed = {k: _copy(v) for k, v in state.items() if k not in self.changing}
        return {k: self.fixed[k] if k in self.fixed else _copy(v) for k, v in state.items()}


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True)

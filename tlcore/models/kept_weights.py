"""Pretrained weights kept in memory while one process trains several runs (an experiment on the
command line): each run builds its network afresh and fills it from the weights as read and checked
the first time, instead of reading and checking the file again.

Only the weights are kept, never a built network: building one draws from torch's random numbers
(the layers' random starts), and a run must draw the same numbers inside an experiment as alone, so
that the same seed gives the same result either way. Outside ``weights_kept()`` nothing is kept, and
what is kept belongs to the context (a thread of its own keeps nothing).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

_kept: ContextVar[dict[str, dict[str, torch.Tensor]] | None] = ContextVar("kept_weights", default=None)


@contextmanager
def weights_kept() -> Iterator[None]:
    """Within it, kept_state() reads each weights file once; what it kept is dropped at its end."""
    if _kept.get() is not None:  # an outer one keeps them already
        yield
        return
    token = _kept.set({})
    try:
        yield
    finally:
        _kept.reset(token)


def kept_state(key: str, load: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """load()'s state dict, or the one loaded before under key within weights_kept().

    The tensors are only ever copied from (load_state_dict copies them into a network), so the
    kept ones never train.
    """
    kept = _kept.get()
    if kept is None:
        return load()
    if key not in kept:
        kept[key] = load()
    return kept[key]

"""Pretrained networks kept in memory while one process trains several runs (an experiment on the command
line): each run gets its own copy of the network as loaded, instead of building it and reading and
checking its weights file again. Outside ``networks_kept()`` nothing is kept, so a worker that trains one
run holds one copy of its network.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn

_kept: dict[str, nn.Module] | None = None


@contextmanager
def networks_kept() -> Iterator[None]:
    """Within it, kept_copy() loads each network once and hands out copies; they are dropped at its end."""
    global _kept
    outermost = _kept is None
    if outermost:
        _kept = {}
    try:
        yield
    finally:
        if outermost:
            _kept = None


def kept_copy(key: str, load: Callable[[], nn.Module]) -> nn.Module:
    """load()'s network, or a copy of the one loaded before under key within networks_kept()."""
    if _kept is None:
        return load()
    if key not in _kept:
        _kept[key] = load()
    return copy.deepcopy(_kept[key])  # the kept one never trains: every run changes its own copy

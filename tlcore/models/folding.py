"""A frozen backbone made cheaper to run: each BatchNorm folded into the convolution that feeds it.

In eval mode a BatchNorm is a fixed per-channel scale and shift, so it can live in the weights and
bias of the convolution before it. That removes a full pass over every activation map: on a CPU,
where MobileNet-like networks wait on memory rather than arithmetic, their forward pass becomes
about twice as fast. Only the embedding pass of a frozen backbone uses the folded copy; the
model that trains and is saved keeps its BatchNorm layers.

Which convolution feeds which BatchNorm is found by running the network once, not by reading its
code, so it works for any architecture; the folded copy must then give the same features as the
original, or the original is used. Blocks that know a cheaper form of themselves for inference (timm's
MobileOne-style blocks in FastViT, whose parallel training branches merge into one convolution) take it
in the copy first.
"""
import copy

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

MAX_RELATIVE_DIFFERENCE = 1e-3  # folding only reorders float arithmetic: anything larger is a wrong pair


@torch.no_grad()
def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy of model (in eval mode) with every BatchNorm2d that directly follows a Conv2d folded into it.

    Args:
        model: the frozen network; its weights are not changed (it is put in eval mode).
        example: a small input batch on the model's device, used to find the pairs and to check the copy.

    Returns:
        The folded copy, or model itself when nothing can be folded or the copy's outputs differ.
    """
    model.eval()
    if not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        return model
    folded = copy.deepcopy(model)
    merged = _merge_branches(folded)
    pairs = _conv_batchnorm_pairs(folded, example)
    if not pairs and not merged:
        return model
    parents = {child: (parent, name) for parent in folded.modules() for name, child in parent.named_children()}
    for conv, norm in pairs:
        _fold_into(conv, norm)
        parent, name = parents[norm]
        setattr(parent, name, _what_follows(norm))
    expected, got = model(example), folded(example)
    scale = expected.abs().max().clamp(min=1e-6)
    return folded if ((got - expected).abs().max() / scale) <= MAX_RELATIVE_DIFFERENCE else model


def _conv_batchnorm_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(conv, norm) where, in one forward pass, norm's input is exactly conv's output, untouched in
    between (no in-place op such as ReLU(inplace=True) changed it), read by nothing else (a residual
    sum of the unnormalized output, as in FastViT's attention blocks), and each runs once."""
    calls: list[tuple[nn.Module, torch.Tensor, int]] = []  # (module, the tensor it made or took, its version)

    counter = _ReadCounter()

    def record(module, args, out):
        tensor = out if isinstance(module, nn.Conv2d) else args[0]
        if isinstance(module, nn.Conv2d):
            counter.reads[id(out)] = 0  # from now on: a tensor freed earlier may have had the same id
        calls.append((module, tensor, tensor._version))

    hooks = [module.register_forward_hook(record)
             for module in model.modules() if isinstance(module, (nn.Conv2d, nn.BatchNorm2d))]
    try:
        with torch.inference_mode(False), torch.no_grad(), counter:  # inference tensors keep no version counter
            model(example.clone())
    finally:
        for hook in hooks:
            hook.remove()
    runs = {}
    for module, _, _ in calls:
        runs[module] = runs.get(module, 0) + 1
    pairs = []
    for (previous, produced, made), (module, consumed, seen) in zip(calls, calls[1:]):
        if (isinstance(previous, nn.Conv2d) and isinstance(module, nn.BatchNorm2d) and consumed is produced
                and made == seen and runs[previous] == runs[module] == 1 and module.track_running_stats
                and counter.reads.get(id(produced)) == 1):
            pairs.append((previous, module))
    return pairs


class _ReadCounter(TorchDispatchMode):
    """Counts the operations that read each tensor, by its id (the convolutions' outputs stay alive in
    the list of calls, so theirs are not reused meanwhile); torch's own operators, below any Python."""

    def __init__(self):
        super().__init__()
        self.reads: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for value in tree_leaves((args, kwargs or {})):
            if isinstance(value, torch.Tensor):
                self.reads[id(value)] = self.reads.get(id(value), 0) + 1
        return func(*args, **(kwargs or {}))


def _merge_branches(model: nn.Module) -> int:
    """Let each block with a ``reparameterize()`` (timm's name for it) merge its training-time branches;
    returns how many did. Exact in eval mode, like folding: the copy is checked against the original."""
    blocks = [module for module in model.modules() if callable(getattr(module, "reparameterize", None))]
    for block in blocks:
        block.reparameterize()
    return len(blocks)


def _what_follows(norm: nn.BatchNorm2d) -> nn.Module:
    """What stays of a BatchNorm once folded: nothing, or the dropout and activation that a fused
    norm-and-activation layer (timm's BatchNormAct2d) applies after normalizing."""
    after = [getattr(norm, name) for name in ("drop", "act") if isinstance(getattr(norm, name, None), nn.Module)]
    return nn.Sequential(*after) if after else nn.Identity()


def _fold_into(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps) if norm.affine else \
        1 / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias if norm.affine else torch.zeros_like(norm.running_mean)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    layout = torch.channels_last if conv.weight.is_contiguous(memory_format=torch.channels_last) else \
        torch.contiguous_format
    conv.weight = nn.Parameter((conv.weight * scale.view(-1, 1, 1, 1)).contiguous(memory_format=layout),
                               requires_grad=False)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + shift, requires_grad=False)

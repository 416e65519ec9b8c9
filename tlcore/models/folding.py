"""A frozen backbone made cheaper to run: each BatchNorm folded into the convolution that feeds it.

In eval mode a BatchNorm is a fixed per-channel scale and shift, so it can live in the weights and
bias of the convolution before it. That removes a full pass over every activation map: on a CPU,
where MobileNet-like networks wait on memory rather than arithmetic, their forward pass becomes
about twice as fast. Only the embedding pass of a frozen backbone uses the folded copy; the
model that trains and is saved keeps its BatchNorm layers.

Which convolution feeds which BatchNorm is found by running the network once, not by reading its
code, so it works for any architecture; the folded copy must then give the same features as the
original, or the original is used.
"""
import copy

import torch
from torch import nn

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
    pairs = _conv_batchnorm_pairs(folded, example)
    if not pairs:
        return model
    parents = {child: (parent, name) for parent in folded.modules() for name, child in parent.named_children()}
    for conv, norm in pairs:
        _fold_into(conv, norm)
        parent, name = parents[norm]
        setattr(parent, name, nn.Identity())
    expected, got = model(example), folded(example)
    scale = expected.abs().max().clamp(min=1e-6)
    return folded if ((got - expected).abs().max() / scale) <= MAX_RELATIVE_DIFFERENCE else model


def _conv_batchnorm_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(conv, norm) where, in one forward pass, norm's input is exactly conv's output, untouched in
    between (no in-place op such as ReLU(inplace=True) changed it), and each runs once."""
    calls: list[tuple[nn.Module, torch.Tensor, int]] = []  # (module, the tensor it made or took, its version)

    def record(module, args, out):
        tensor = out if isinstance(module, nn.Conv2d) else args[0]
        calls.append((module, tensor, tensor._version))

    hooks = [module.register_forward_hook(record)
             for module in model.modules() if isinstance(module, (nn.Conv2d, nn.BatchNorm2d))]
    try:
        with torch.inference_mode(False), torch.no_grad():  # inference tensors keep no version counter
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
                and made == seen and runs[previous] == runs[module] == 1 and module.track_running_stats):
            pairs.append((previous, module))
    return pairs


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

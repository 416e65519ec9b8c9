"""BatchNorm statistics measured on a person's own pictures before the feature pass (AdaBN).

A pretrained network's BatchNorm layers normalize with the averages ImageNet's photos gave them.
Pictures unlike those photos (grey clothes on black, drawings on white paper) reach each layer with
other averages, so a frozen network describes them off-centre. One pass over the training pictures in
train mode, without gradients and with momentum None (torch's cumulative average over the batches),
replaces each layer's running mean and variance by the ones those pictures give: what fastai's frozen
training does implicitly (its BatchNorm layers keep training), and what Li et al. (2016) call AdaBN.
No weight moves. Validation pictures never feed the statistics, so validation stays a fair check.

The adapted statistics are buffers of the model, so the saved model (predict, export, Grad-CAM) uses the
same numbers as the feature pass; statistics_vector and load_statistics_vector let the run's cache keep
them beside the features they made.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tlcore.data.batches import to_model_input
from tlcore.training.phase_inputs import StopRequested, autocast_for

# How adapted statistics are measured: part of the cache keys of what they make, so a change of recipe
# computes features afresh rather than mixing them with features made another way.
RECIPE = "adabn-cma:v1"
# Pictures per batch, counted in pixels: 256 pictures at 128 px (about 1.5 GB of activations for
# MobileNetV2 on a CPU). A set that fits is measured in one batch: its statistics exactly; a larger one in
# equal batches, whose averages are then the set's mean and nearly its variance.
BATCH_PIXELS = 256 * 128 * 128
MIN_PICTURES = 2  # one picture's statistics say nothing about a set (and a 1x1 map cannot be normalized)


def norm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of module that keep running statistics, in the order of module.modules()."""
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]


def has_norm_statistics(module: nn.Module) -> bool:
    """Whether module has statistics to adapt (a ViT or another LayerNorm network has none)."""
    return bool(norm_layers(module))


def batch_rows(rows: np.ndarray, image_size: int, batch_pixels: int = BATCH_PIXELS) -> list[np.ndarray]:
    """rows split into as few batches as the pixel budget allows, of equal sizes (to within one): each
    batch weighs the same in the cumulative average, so no small last batch pulls it off."""
    per_batch = max(MIN_PICTURES, batch_pixels // (image_size * image_size))
    return np.array_split(rows, max(1, math.ceil(len(rows) / per_batch)))


@torch.no_grad()
def adapt_norm_statistics(backbone: nn.Module, pictures, *, device: torch.device, rows=None,
                          batch_pixels: int = BATCH_PIXELS, should_stop=lambda: False, on_progress=None) -> int:
    """Set every BatchNorm's running mean and variance to the average over these pictures' batches.

    Args:
        backbone: a network with a ``spec`` (its mean and std); left in eval mode.
        pictures: uint8 [N, S, S, 3], array-like (the training pictures: never validation ones).
        rows: the pictures to measure (the ones a run learns from); None for all.
        batch_pixels: the batch size, in pixels (tests measure in several batches with a small one).
        on_progress: (pictures measured, of how many) after each batch.
    Returns:
        How many layers were adapted: 0 for a network without BatchNorm, or fewer than MIN_PICTURES.
    """
    norms = norm_layers(backbone)
    rows = np.arange(len(pictures)) if rows is None else np.asarray(rows, dtype=np.int64)
    if not norms or len(rows) < MIN_PICTURES:
        return 0
    spec = backbone.spec
    momenta = [norm.momentum for norm in norms]
    backbone.eval()  # dropout and everything else as in the feature pass; only the norms measure
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    autocast, _ = autocast_for(device)
    done = 0
    try:
        for chosen in batch_rows(rows, pictures.shape[1], batch_pixels):
            if should_stop():
                raise StopRequested()
            x = to_model_input(torch.from_numpy(np.ascontiguousarray(pictures[chosen])), spec.mean, spec.std,
                               device)
            with autocast:
                backbone(x)
            done += len(chosen)
            if on_progress:
                on_progress(done, len(rows))
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        backbone.eval()
    return len(norms)


def statistics_vector(module: nn.Module) -> np.ndarray:
    """Every BatchNorm's running mean and variance, one float32 vector (what the cache keeps)."""
    return np.concatenate([t.detach().float().cpu().numpy().ravel() for norm in norm_layers(module)
                           for t in (norm.running_mean, norm.running_var)]).astype(np.float32)


@torch.no_grad()
def load_statistics_vector(module: nn.Module, vector: np.ndarray) -> None:
    """Put back what statistics_vector gave, for the same network; ValueError when it does not fit."""
    tensors = [t for norm in norm_layers(module) for t in (norm.running_mean, norm.running_var)]
    if sum(t.numel() for t in tensors) != len(vector):
        raise ValueError(f"{len(vector)} statistics for a network that keeps {sum(t.numel() for t in tensors)}")
    start = 0
    for tensor in tensors:
        tensor.copy_(torch.from_numpy(vector[start:start + tensor.numel()]).view_as(tensor))
        start += tensor.numel()

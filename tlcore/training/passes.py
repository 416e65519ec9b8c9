"""Passes over a phase's training pictures outside its training steps: BatchNorm statistics averaged
under the current weights, and the features a computed or solved head is fitted to."""
import contextlib
import time
from collections.abc import Iterator

import torch
from torch import nn

from tlcore.data.batches import ArrayBatches
from tlcore.training.phase_inputs import PhaseData, StopRequested, autocast_for
from tlcore.training.phases import Phase


@contextlib.contextmanager
def batch_order_kept(batches: ArrayBatches) -> Iterator[ArrayBatches]:
    """The training batches, for a pass outside training: the run's sequence of batches is the same
    afterwards as if the pass had not happened (the shuffling generator's state is restored)."""
    generator = batches.generator
    state = generator.get_state() if generator is not None else None
    try:
        yield batches
    finally:
        if state is not None:
            generator.set_state(state)


PRECISE_NORM_IMAGES = 2048
"""Training images averaged over when BatchNorm statistics are recomputed: enough for stable ones."""


@torch.no_grad()
def recompute_norm_statistics(module, data: PhaseData, *, device, should_stop=lambda: False,
                              max_images: int = PRECISE_NORM_IMAGES) -> None:
    """Set the running statistics of the BatchNorms being trained to averages under the current weights.

    Running averages (momentum 0.1) lag behind weights that change every step: after the few steps
    of a small dataset they still hold their initial values, and eval mode then gives every image
    the same class (measured: MobileNetV2 from scratch at 5 to 20 images per class, 15 epochs).
    Averaging over training images with the weights as they are now ("precise BatchNorm") gives
    validation and the saved model the statistics training actually had. Inputs are prepared as
    for validation; the training batches' random order is restored afterwards, so the run's
    sequence of batches does not change.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    module.eval()  # dropout and everything else as in validation; only these norms gather statistics
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches below
        norm.train()
    autocast, _ = autocast_for(device)
    try:
        with batch_order_kept(data.train) as batches:
            # Counted in batches, not pictures: with several processes each sees its share of a batch, and
            # all must make the same passes (SyncBatchNorm's forward is a collective).
            for done, (raw, _) in enumerate(batches):
                if done * batches.batch_size >= max_images:
                    break
                if should_stop():
                    raise StopRequested()
                with autocast:
                    module(data.prepare(raw, False))
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum


@torch.no_grad()  # not inference mode: what a head keeps from them is used by later training steps
def training_features(phase: Phase, data: PhaseData, *, should_stop=lambda: False) -> tuple[torch.Tensor, torch.Tensor]:
    """The phase's body's features of every training picture, once each, with their labels.

    Inputs are prepared as for validation (no augmentation) and passed through the body in eval
    mode, each training picture once (a balanced sampler's draws would weigh some twice).
    """
    module = phase.module
    modes = [m.training for m in module.modules()]
    module.eval()
    features, labels = [], []
    try:
        for raw, y in data.train.in_order():
            if should_stop():
                raise StopRequested()
            features.append(phase.body(data.prepare(raw, False)).float())
            labels.append(y.to(features[-1].device))
    finally:
        for m, mode in zip(module.modules(), modes):
            m.train(mode)
    return torch.cat(features), torch.cat(labels)


def fit_computed_head(phase: Phase, data: PhaseData, *, should_stop=lambda: False) -> None:
    """Give a head computed from the data (class prototypes) the phase's training features."""
    phase.head.fit_to(*training_features(phase, data, should_stop=should_stop))


def solve_head(phase: Phase, data: PhaseData, *, should_stop=lambda: False) -> dict:
    """A solved phase's one epoch: the head solved for on the training features (logistic regression).

    Where the training batches balance the classes, so does the solution: each class weighs the same.
    Returns the epoch's training figures, as train_one_epoch does, plus the head's own (the L2 chosen).
    """
    start = time.perf_counter()
    features, labels = training_features(phase, data, should_stop=should_stop)
    weights = None
    if data.train.draw_weights is not None:
        counts = torch.bincount(labels).float()
        weights = (1.0 / counts.clamp(min=1))[labels]
    def check() -> None:
        if should_stop():
            raise StopRequested()

    figures = phase.head.solve(features, labels, weights, check=check)
    return {"images": len(labels), "seconds": time.perf_counter() - start, **figures}

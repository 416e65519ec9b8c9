"""A phase: a stretch of epochs with one set of trainable parameters, written as data for the loop."""
from dataclasses import dataclass, field

from torch import nn


@dataclass
class Phase:
    """What trains in a stretch of epochs, on which inputs, with which extra loss terms and streams.

    The model of a phase is ``head(body(x))``: for a phase on cached features the body is the
    identity (the features are its inputs), for a phase on pictures it is the backbone.
    """

    name: str
    epochs: int
    inputs: str  # "embeddings": cached backbone features; "images": pixels through the whole model
    body: nn.Module
    head: nn.Module
    param_groups: list[dict]
    train_modules: list[nn.Module] = field(default_factory=list)  # in train mode; all else stays in eval
    augment: bool = False
    # Pretrained BatchNorm statistics stay as they are: re-estimating them from a few small batches
    # of a new domain makes eval-mode outputs drift from what training saw (measured on Fashion-MNIST,
    # 40 images per class: 0.91 after three body epochs with them frozen, 0.86 re-estimated).
    freeze_norm_stats: bool = True
    # Modules called once per step with a terms.Step, returning a terms.TermOutput to add to the loss.
    terms: list[nn.Module] = field(default_factory=list)
    # Extra streams of batches drawn alongside each labelled batch ("target": pictures from where the
    # model will be used), prepared like the phase's own inputs, labels never passed on.
    streams: tuple[str, ...] = ()
    # Keep each epoch's model, not the best on validation: for alignment, validation is on the labelled
    # pictures and says nothing about the target, while the last epoch is the most aligned (measured).
    keeps_last: bool = False
    # The share of the phase's steps over which the learning rates climb to their value (0: none).
    warmup: float = 0.0
    optimizer: str = "adamw"  # or "sgd" (momentum 0.9)
    # The head is solved for on the training features in one go (head.solve(): logistic regression,
    # its L2 strength cross-validated), an epoch of one step, instead of stepped by the optimizer.
    solved: bool = False

    @property
    def module(self) -> nn.Module:
        """head(body(x)) as one module, for validation and BatchNorm statistics (shares their weights)."""
        return nn.Sequential(self.body, self.head)

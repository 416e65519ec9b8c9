"""What the training loop and the passes beside it share: a phase's data, the ways a run stops, and
the precision it computes in."""
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from tlcore.data.batches import ArrayBatches


class StopRequested(Exception):
    """Someone asked the run to stop; raised between batches."""


class TrainingFailed(Exception):
    """Training cannot go on (a NaN loss, say); the message is for people."""


@dataclass
class PhaseData:
    """What one phase trains and validates on, and how a raw batch becomes model input."""

    train: ArrayBatches
    val: ArrayBatches
    prepare: Callable[[torch.Tensor, bool], torch.Tensor]  # (raw batch, training) -> input on the device
    streams: dict[str, ArrayBatches] = field(default_factory=dict)  # the phase's extra streams, by name
    # Held-out sets measured after each epoch besides validation (a labelled target), by name.
    checks: dict[str, ArrayBatches] = field(default_factory=dict)
    # Test-time augmentation: each held-out picture's probabilities averaged with its mirror image's.
    tta: bool = False
    # For inputs that are features, the mirror images' features of each held-out set ("val" and the
    # checks' names), in the same order; pictures are mirrored on the fly instead.
    mirrored: dict[str, ArrayBatches] = field(default_factory=dict)


def autocast_for(device: torch.device):
    """Mixed precision on CUDA (bf16 where supported, else fp16); full precision elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler

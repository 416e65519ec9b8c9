"""A run's network: built from the registry's weights, a user's file or the runs it starts from, on its
device; and what makes its features the same as another run's (their cache key)."""
from __future__ import annotations

import functools

import torch

from tlcore.config import ConfigError
from tlcore.data.imagecache import content_key
from tlcore.device import resolve_device
from tlcore.models.backbones import member_names
from tlcore.models.classifier import Classifier, create_classifier
from tlcore.runs.store.sources import SourceRun, load_source_body
from tlcore.training.distributed import World
from tlcore.training.meta_practice import body_identity
from tlcore.training.terms import squared_distance


def process_device(config, world: World) -> torch.device:
    """This process's device: the run's choice, and with several processes on GPUs its local rank's GPU."""
    device = resolve_device(config.device)
    if world.active and device.type == "cuda":
        count = torch.cuda.device_count()
        if world.local_rank >= count:
            raise ConfigError(f"This machine has {count} GPU{'s' * (count != 1)}, fewer than the "
                              f"{world.local_rank + 1} processes started on it; start one process per GPU.")
        device = torch.device("cuda", world.local_rank)
    return device


def build_model(config, strategy, classes: int, source: SourceRun | None, members: list[SourceRun | None],
                device: torch.device) -> Classifier:
    """The classifier a run trains: its body from the registry (pretrained or not), or from the runs it
    starts from, and a new head for its classes, on the device in channels_last."""
    # A run started from another takes that run's body; the registry's weights would be overwritten.
    model = create_classifier(config, classes, pretrained=strategy.pretrained and not config.init_from)
    if source is not None:
        load_source_body(model.backbone, source)
    for member, member_source in zip(getattr(model.backbone, "members", []), members):
        if member_source is not None:
            load_source_body(member, member_source)
    return model.to(device, memory_format=torch.channels_last)


def weights_identities(config, model: Classifier, source: SourceRun | None, members: list[SourceRun | None],
                       practised: bool):
    """() -> one identity per network of the body, made once and only when asked (a file's hash costs).

    Two bodies with the same identity describe pictures alike, so their features are shared in the
    cache. A body changed by practice before the phases is its own (hashed once, now)."""
    if practised:
        body = body_identity(model)
        return functools.cache(lambda: [f"{weights_identity(config, source)}:meta:{body}"])
    if members:
        return functools.cache(lambda: member_identities(config, members))
    return functools.cache(lambda: [weights_identity(config, source)])


def member_identities(config, members: list[SourceRun | None]) -> list[str]:
    """For networks combined, each member's weights_identity: its features are cached on their own."""
    return [weights_identity(config.replace(backbone=name, member_runs=[]), source)
            for name, source in zip(member_names(config.backbone), members)]


def weights_identity(config, source: SourceRun | None = None) -> str:
    """What makes two backbones' features the same: name, weights, and a user file's or a source run's contents."""
    if source is not None:
        return f"{config.backbone}:run:{source.identity()}"
    if not config.weights_file:
        return f"{config.backbone}:pretrained"
    return f"{config.backbone}:file:{content_key(config.weights_file)[:16]}"  # streamed: memory stays flat


def body_start(model: Classifier, trains_body: bool) -> list[torch.Tensor]:
    """The body's weights where training starts, kept on the CPU, for strategies that move them."""
    return [p.detach().float().cpu().clone() for p in model.backbone.parameters()] if trains_body else []


@torch.no_grad()
def body_distance(model: Classifier, start: list[torch.Tensor]) -> float:
    """||w - w0|| over the body's weights: how far training moved it from where it started."""
    return float(squared_distance(list(model.backbone.parameters()), start)) ** 0.5

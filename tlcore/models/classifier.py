"""The trained model: a backbone's pooled features into a small head, plus saving and loading it."""
import errno
import os
from pathlib import Path

import torch
from torch import nn

from tlcore.models.backbones import Backbone
from tlcore.models.heads import create_head
from tlcore.models.weights import WeightsFileError, create_backbone
from tlcore.config import RunConfig
from tlcore.diskspace import free_bytes


class Classifier(nn.Module):
    """Backbone + head; takes normalized float NCHW images and returns logits."""

    def __init__(self, backbone: Backbone, num_classes: int, head: str = "linear"):
        super().__init__()
        self.backbone = backbone
        self.head = create_head(head, backbone.spec.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def create_classifier(config: RunConfig, num_classes: int, pretrained: bool) -> Classifier:
    backbone = create_backbone(config.backbone, pretrained=pretrained, weights_file=config.weights_file if pretrained else None)
    return Classifier(backbone, num_classes, config.head)


def save_checkpoint(path: Path, model: Classifier, config: RunConfig, labels: list[str], **meta) -> None:
    """A state_dict with what is needed to rebuild the model; never a pickled module."""
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": config.to_dict(), "labels": list(labels), "meta": meta}
    tmp = Path(path).with_suffix(".tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    except RuntimeError as error:  # torch's zip writer reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        if free_bytes(tmp.parent) < checkpoint_bytes(model):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(path).parent)) from error
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)  # half a checkpoint (a full disk) must not stay behind
        raise


def checkpoint_bytes(model: nn.Module) -> int:
    """About how many bytes save_checkpoint writes for this model: its tensors, plus room for the rest."""
    tensors = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return tensors + 1024**2


def load_checkpoint(path: Path) -> tuple[Classifier, RunConfig, list[str], dict]:
    """Rebuild the classifier from a checkpoint; strict, so a mismatch is an error rather than silence.

    Raises:
        OSError: the file is missing or may not be read. WeightsFileError: it is not a checkpoint of this
        studio's (damaged, cut short, or another program's file).
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        config = RunConfig.from_dict(payload["config"])
        labels = payload["labels"]
        model = create_classifier(config, len(labels), pretrained=False)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        raise
    except Exception as error:  # cut short, unpickling, missing keys, wrong shapes: all mean "not a usable model"
        raise WeightsFileError(f"'{Path(path).name}' is not a usable model file ({type(error).__name__}: {error})") from error
    return model.eval(), config, labels, payload.get("meta", {})

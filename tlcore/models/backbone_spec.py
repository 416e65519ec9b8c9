"""What a backbone is: its facts (BackboneSpec) and the one interface every architecture is adapted to.

The registry of architectures lives in ``tlcore.models.backbones``; this module holds only the shapes
they share, so a combination of networks (``tlcore.models.combined``) can build on them too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class BackboneSpec:
    """What a person and the data pipeline need to know about a backbone, without building it."""

    name: str
    title: str
    params_m: float  # whole ImageNet model, classifier included, as catalogs quote it
    imagenet_top1: float  # for the weights this studio loads (weights_label), not the best known
    feature_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_image_size: int  # the crop size the weights were evaluated at
    gflops: float  # GMACs at 224 px, torchvision's `_ops` convention
    weights_label: str
    weights_file: str  # file name in the torch hub cache (in the Hugging Face repo where weights_hub is set)
    weights_url: str | None  # torchvision's download URL; None where no URL exists
    weights_size_mb: float
    min_image_size: int = 32
    fixed_image_size: int | None = None  # set when the model accepts only this size
    notes: str = ""
    weights_hub: str | None = None  # the Hugging Face repo its weights come from, through timm


class Backbone(nn.Module):
    """A feature extractor with a uniform interface over architectures.

    Args:
        spec: The registry entry it was built from.
        body: The architecture's model with its classifier replaced by ``nn.Identity``, so its
            forward returns pooled features and its state_dict keys match the original files.
        stages: The body's modules from input to output; each parameter belongs to exactly one.
        head_prefixes: State-dict key prefixes of the removed classifier, which weight files
            still hold and loading ignores (see ``tlcore.weights.load_into_backbone``).
        explain_layer: the layer whose activations Grad-CAM explains: the last one that still has a
            picture's layout (a feature map), before pooling.
        explain_reshape: turns that layer's output into [N, C, H, W] where it is not one already
            (ViT's tokens); None where it is.
    """

    def __init__(self, spec: BackboneSpec, body: nn.Module, stages: list[nn.Module],
                 head_prefixes: tuple[str, ...], explain_layer: nn.Module | None = None,
                 explain_reshape: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.spec = spec
        self.body = body
        # Plain attributes, like the stages: the layer lives inside `body` already.
        self.__dict__["explain_layer"] = explain_layer if explain_layer is not None else stages[-1]
        self.explain_reshape = explain_reshape
        # A plain list, not a ModuleList: the stage modules live inside `body` already, and
        # registering them twice would duplicate every key in the state_dict.
        self._stages = list(stages)
        self.head_prefixes = head_prefixes
        self.weights_origin = "random init"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled body features (the class token for ViT) of normalized float NCHW images."""
        return self.body(x)

    def stages(self) -> list[nn.Module]:
        """The body split into ordered stages, input side first."""
        return list(self._stages)


def join_stage(*modules: nn.Module, parameters: dict[str, nn.Parameter] | None = None) -> nn.Module:
    """Group existing modules (and loose parameters, e.g. ViT's class token) into one stage."""
    stage = nn.ModuleList(modules)
    for name, parameter in (parameters or {}).items():
        stage.register_parameter(name, parameter)
    return stage


def tokens_to_map(tokens: torch.Tensor, prefix_tokens: int = 1) -> torch.Tensor:
    """A ViT's [N, prefix + H*W, C] tokens as an [N, C, H, W] map: the class token (and any register
    tokens) dropped, the patches laid out."""
    patches = tokens[:, prefix_tokens:, :]
    side = int(round(patches.shape[1] ** 0.5))
    return patches.reshape(patches.shape[0], side, side, patches.shape[2]).permute(0, 3, 1, 2)

"""Several networks looking at the same picture, their features side by side (multi-source feature extraction).

A combination is named by its members' names joined with "+" and takes pictures scaled to [0, 1]: each
member normalises them its own way inside, so one input serves members trained with different means and
deviations, and an exported model carries it all.
"""
from __future__ import annotations

import torch
from torch import nn

from tlcore.models.backbone_spec import Backbone, BackboneSpec

SEPARATOR = "+"


def member_names(name: str) -> list[str]:
    return name.split(SEPARATOR)


def is_combined(name: str) -> bool:
    return SEPARATOR in name


def combined_spec(members: list[BackboneSpec]) -> BackboneSpec:
    """The facts of the combination: sizes and costs add up, features are concatenated."""
    fixed = {m.fixed_image_size for m in members if m.fixed_image_size}
    return BackboneSpec(
        name=SEPARATOR.join(m.name for m in members), title=" + ".join(m.title for m in members),
        params_m=round(sum(m.params_m for m in members), 2), imagenet_top1=max(m.imagenet_top1 for m in members),
        feature_dim=sum(m.feature_dim for m in members), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        default_image_size=members[0].default_image_size, gflops=round(sum(m.gflops for m in members), 3),
        weights_label=" + ".join(m.weights_label for m in members), weights_file="", weights_url=None,
        weights_size_mb=round(sum(m.weights_size_mb for m in members), 1),
        min_image_size=max(m.min_image_size for m in members),
        fixed_image_size=next(iter(fixed)) if len(fixed) == 1 else None,
        notes="Features of several networks, concatenated.")


class CombinedBackbone(Backbone):
    """Backbones side by side: features [N, sum of the members' feature_dim] of pictures in [0, 1]."""

    def __init__(self, members: list[Backbone]):
        spec = combined_spec([m.spec for m in members])
        body = nn.ModuleList(members)
        # Grad-CAM explains the first network's view; each member's own run explains the others.
        super().__init__(spec, body, [stage for m in members for stage in m.stages()], (),
                         members[0].explain_layer, members[0].explain_reshape)
        for index, member in enumerate(members):  # not in the state_dict: they follow from the members' specs
            self.register_buffer(f"mean{index}", torch.tensor(member.spec.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer(f"std{index}", torch.tensor(member.spec.std).view(1, 3, 1, 1), persistent=False)

    @property
    def members(self) -> list[Backbone]:
        return list(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([member((x - getattr(self, f"mean{i}")) / getattr(self, f"std{i}"))
                          for i, member in enumerate(self.body)], dim=1)

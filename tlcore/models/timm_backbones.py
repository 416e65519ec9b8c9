"""Networks built by timm (PyTorch Image Models), whose weights come from the Hugging Face hub on first use.

timm is imported only when one of these networks is built or its weights are read: its import takes
seconds and brings torch._dynamo with it, which the first page, the server and every other network do
without. Their facts are therefore written here rather than read from timm at registration;
tests/test_timm_backbones.py checks each against timm's own pretrained config (mean, std, input size).
The registry (``tlcore.models.backbones``) registers every entry of TIMM_NETWORKS.

Figures: parameters counted on the whole network as published (classifier or CLIP projection included),
GMACs counted by torch.utils.flop_counter (half its FLOPs) at the default size, file sizes from the
tensors the weights file holds (float32), ImageNet top-1 as noted per network.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from tlcore.models.backbone_spec import Backbone, BackboneSpec, join_stage, tokens_to_map

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
HUB_FILE = "model.safetensors"  # what timm's repositories on the hub hold, and timm reads first


@dataclass(frozen=True)
class TimmNetwork:
    """One timm network as the studio uses it.

    Args:
        model: timm's name with its pretrained tag, e.g. ``mobilenetv4_conv_small.e2400_r224_in1k``.
        family: how its body splits into stages: "mobilenet", "fastvit" or "vit".
        spec: the BackboneSpec fields other than the name.
        options: create_model's other arguments (DINOv2's image size).
    """

    model: str
    family: str
    spec: dict
    options: dict = field(default_factory=dict)


def _network(model: str, family: str, title: str, *, params_m: float, gmacs: float, top1: float, size: int,
             feature_dim: int, mb: float, notes: str, mean=IMAGENET_MEAN, std=IMAGENET_STD, hub: str = "",
             options: dict | None = None, **more) -> TimmNetwork:
    """An entry; ``hub`` names the hub repository where it is not timm's name (same file, another variant)."""
    spec = dict(title=title, params_m=params_m, imagenet_top1=top1, feature_dim=feature_dim, mean=mean, std=std,
                default_image_size=size, gflops=gmacs, weights_label=model, weights_file=HUB_FILE,
                weights_url=None, weights_size_mb=mb, weights_hub=f"timm/{hub or model}", notes=notes, **more)
    return TimmNetwork(model, family, spec, options or {})


_VIT_NOTES = "Takes 224 x 224 images only; features are the class token."
TIMM_NETWORKS: dict[str, TimmNetwork] = {
    "mobilenetv4_conv_small": _network(
        "mobilenetv4_conv_small.e2400_r224_in1k", "mobilenet", "MobileNetV4-Conv-Small", params_m=3.77,
        gmacs=0.185, top1=73.756, size=224, feature_dim=1280, mb=15.2,
        notes="Trained in timm (top-1 is timm's figure at 224 px). Downloaded from the Hugging Face hub on first "
              "use. Features are the 1280-channel layer after pooling."),
    "mobilenetv4_conv_medium": _network(
        "mobilenetv4_conv_medium.e500_r256_in1k", "mobilenet", "MobileNetV4-Conv-Medium", params_m=9.72,
        gmacs=1.079, top1=79.916, size=256, feature_dim=1280, mb=39.1,
        notes="Trained in timm at 256 px (top-1 is timm's figure at 256 px). Downloaded from the Hugging Face hub "
              "on first use."),
    "dinov2_vits14": _network(
        "vit_small_patch14_dinov2.lvd142m", "vit", "DINOv2 ViT-S/14", params_m=21.63, gmacs=5.515, top1=81.1,
        size=224, feature_dim=384, mb=88.2, fixed_image_size=224, options={"img_size": 224},
        notes=f"Self-supervised on 142 million pictures, no labels; top-1 is a linear layer on its features "
              f"(DINOv2's paper). Its weights are for 518 px; timm adapts the position embeddings to 224 px. "
              f"{_VIT_NOTES} Apache-2.0; downloaded from the Hugging Face hub on first use."),
    "mobileclip2_s0": _network(
        "fastvit_mci0.apple_mclip2_dfndr2b", "fastvit", "MobileCLIP2-S0", params_m=11.41, gmacs=2.384, top1=71.5,
        size=256, feature_dim=1024, mb=45.8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        notes="The image half of a CLIP model (pictures and captions) small enough for a phone; top-1 is its "
              "zero-shot figure (MobileCLIP2's paper). Features are the pooled 1024 channels before the CLIP "
              "projection. Apple's research licence (apple-amlr); downloaded from the Hugging Face hub on first "
              "use."),
    # The QuickGELU variant: OpenAI's CLIP was trained with it (same weights file as timm's GELU one).
    "clip_vit_b_32": _network(
        "vit_base_patch32_clip_quickgelu_224.openai", "vit", "CLIP ViT-B/32", params_m=87.85, gmacs=4.362,
        top1=76.1, size=224, feature_dim=768, mb=351.4, mean=CLIP_MEAN, std=CLIP_STD, fixed_image_size=224,
        hub="vit_base_patch32_clip_224.openai",
        notes=f"OpenAI's CLIP image tower; top-1 is a linear layer on its features (CLIP's paper), which are the "
              f"class token before the CLIP projection. {_VIT_NOTES} Downloaded from the Hugging Face hub on "
              f"first use."),
}


def build_timm_backbone(spec: BackboneSpec) -> Backbone:
    """A TIMM_NETWORKS entry with random weights, its classifier (or CLIP projection) removed."""
    network = TIMM_NETWORKS[spec.name]
    import timm  # here, not at the top: see the module's docstring

    model = timm.create_model(network.model, pretrained=False, num_classes=0, **network.options)
    stages, explain_layer, explain_reshape, head = _FAMILIES[network.family](model)
    return Backbone(spec, model, stages, head, explain_layer=explain_layer, explain_reshape=explain_reshape)


def load_timm_pretrained_state(name: str, path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a TIMM_NETWORKS entry with the weights in ``path``, read the way timm reads them.

    timm's own loader is used (not a plain file read) because it adapts a file to the network built:
    it drops the classifier and, for DINOv2, resizes the position embeddings from 518 px to 224 px.

    Raises RuntimeError (a file that does not fit), ValueError (a damaged one) or OSError, in timm's words.
    """
    network = TIMM_NETWORKS[name]
    import timm
    from safetensors import SafetensorError

    # Building draws random starts: the caller's random numbers must not move for it (see kept_weights).
    with torch.random.fork_rng(devices=[]):
        try:
            model = timm.create_model(network.model, pretrained=True, num_classes=0,
                                      pretrained_cfg_overlay={"file": str(path)}, **network.options)
        except SafetensorError as error:  # a truncated download; its own class derives from Exception alone
            raise ValueError(f"{path.name} is damaged ({error})") from error
    return model.state_dict()


_Split = tuple[list[nn.Module], nn.Module, Callable | None, tuple[str, ...]]


def _mobilenet(model: nn.Module) -> _Split:
    """timm's MobileNetV4: stem, five runs of blocks at strides 4 to 32, then pooling and a 1x1 layer."""
    blocks = list(model.blocks)
    stages = [join_stage(model.conv_stem, model.bn1, blocks[0]), *blocks[1:-1],
              join_stage(blocks[-1], model.conv_head, model.norm_head)]
    return stages, blocks[-1], None, ("classifier.",)  # blocks[-1] is the last feature map (the head is pooled)


def _fastvit(model: nn.Module) -> _Split:
    """timm's FastViT (MobileCLIP's image tower): stem, four stages, a last 1x1 layer before pooling."""
    first, *middle, last = model.stages
    stages = [join_stage(model.stem, first), *middle, join_stage(last, model.final_conv)]
    return stages, model.final_conv, None, ("head.fc.",)


def _vit(model: nn.Module) -> _Split:
    """timm's VisionTransformer: the patch embedding with its tokens, then one stage per block."""
    embedding = join_stage(model.patch_embed, model.norm_pre, parameters={
        "cls_token": model.cls_token, "pos_embed": model.pos_embed})
    blocks = list(model.blocks)
    stages = [embedding, *blocks[:-1], join_stage(blocks[-1], model.norm, model.fc_norm)]
    # The last block's first norm sees every token, laid out as patches once the class token is dropped.
    reshape = functools.partial(tokens_to_map, prefix_tokens=model.num_prefix_tokens)
    return stages, blocks[-1].norm1, reshape, ("head.",)


_FAMILIES: dict[str, Callable[[nn.Module], _Split]] = {"mobilenet": _mobilenet, "fastvit": _fastvit, "vit": _vit}

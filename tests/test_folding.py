"""BatchNorm folded into convolutions for the embedding pass: the same features, for every backbone."""
import pytest
import torch
from torch import nn

from tlcore.models.backbones import list_backbones
from tlcore.models.weights import create_backbone
from tlcore.models.folding import fold_batchnorm


def with_trained_statistics(model: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine terms, so folding is not an identity by luck."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            for tensor, low, high in ((module.running_mean, -1.0, 1.0), (module.running_var, 0.5, 2.0),
                                      (module.weight, 0.5, 1.5), (module.bias, -0.5, 0.5)):
                tensor.data.copy_(torch.empty_like(tensor).uniform_(low, high, generator=generator))
    return model.eval()


def batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


# BatchNorms that must stay: MobileCLIP2-S0's two attention blocks normalize a map whose unnormalized
# values also go on to a residual sum.
UNFOLDABLE = {"mobileclip2_s0": 2}


@pytest.mark.slow
@pytest.mark.parametrize("name", [spec.name for spec in list_backbones()])
def test_folding_keeps_the_features_of_every_backbone(name):
    backbone = with_trained_statistics(create_backbone(name, pretrained=False))
    size = backbone.spec.fixed_image_size or 64
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with torch.inference_mode():
        folded = fold_batchnorm(backbone, x[:2])
        expected, got = backbone(x), folded(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    if batchnorms(backbone):
        assert folded is not backbone and batchnorms(folded) == UNFOLDABLE.get(name, 0)  # the rest follow a conv
    else:
        assert folded is backbone  # nothing to fold (ConvNeXt's LayerNorm, ViT)
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())  # the original is untouched


class Shortcut(nn.Module):
    """A convolution whose output feeds its BatchNorm and, unnormalized, a sum: folding would change the sum."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.norm(y) + y


def test_a_pair_whose_conv_output_is_also_used_elsewhere_is_not_folded():
    model = with_trained_statistics(Shortcut())
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        assert fold_batchnorm(model, x) is model  # nothing else to fold


def test_the_other_pairs_still_fold_beside_one_that_cannot():
    model = with_trained_statistics(nn.Sequential(Shortcut(), nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)))
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        folded = fold_batchnorm(model, x)
        assert torch.allclose(folded(x), model(x), atol=1e-5)
    assert isinstance(folded[0].norm, nn.BatchNorm2d) and isinstance(folded[2], nn.Identity)


class NormThenActivation(nn.BatchNorm2d):
    """A BatchNorm that also applies its activation, as timm's BatchNormAct2d does."""

    def __init__(self, channels):
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


class TwoBranches(nn.Module):
    """A block that trains as two parallel convolutions and knows its one-convolution form (MobileOne's)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.a(x) + self.b(x)

    def reparameterize(self):
        self.a.weight.data += self.b.weight.data
        self.a.bias.data += self.b.bias.data
        self.b = None
        self.forward = self.a.forward


def test_a_fused_norm_keeps_its_activation_and_branches_merge_first():
    model = with_trained_statistics(nn.Sequential(TwoBranches(), nn.Conv2d(3, 4, 1), NormThenActivation(4)))
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        folded = fold_batchnorm(model, x)
        assert torch.allclose(folded(x), model(x), atol=1e-5)
    assert folded[0].b is None and model[0].b is not None  # the copy merged, the original did not
    assert batchnorms(folded) == 0 and isinstance(folded[2][0], nn.ReLU)


class InPlaceBetween(nn.Module):
    """conv -> in-place ReLU -> norm (not a foldable pair), then a true conv -> norm pair."""

    def __init__(self):
        super().__init__()
        self.conv1, self.norm1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.norm2 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

    def forward(self, x):
        x = self.norm1(torch.relu_(self.conv1(x)))
        return self.norm2(self.conv2(x))


def test_an_in_place_op_between_conv_and_norm_keeps_that_pair_apart():
    model = with_trained_statistics(InPlaceBetween())
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        folded = fold_batchnorm(model, x)
        assert torch.allclose(folded(x), model(x), atol=1e-5)
    assert isinstance(folded.norm1, nn.BatchNorm2d) and isinstance(folded.norm2, nn.Identity)

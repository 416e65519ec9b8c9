"""BatchNorm statistics adapted to a person's pictures before the feature pass (feature_extraction's
adapt_norm): the numbers they become, the pictures that may feed them, the cache keys of the features
they make, and a real run whose saved model gives its validation accuracy again."""
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tlcore import paths
from tlcore.config import ConfigError, RunConfig
from tlcore.data.batches import to_model_input
from tlcore.data.decoding import SamplePictures
from tlcore.data.imagecache import ImageCache
from tlcore.models.classifier import load_checkpoint
from tlcore.models.weights import create_backbone
from tlcore.runs.execution.phase_data import PhaseDataMaker
from tlcore.runs.execution.run_data import PictureSet, RunData
from tlcore.runs.store.folder import RunFolder
from tlcore.serve.predictor import Predictor
from tlcore.training.checks import check_config
from tlcore.training.norm_statistics import (adapt_norm_statistics, batch_rows, has_norm_statistics,
                                             load_statistics_vector, norm_layers, statistics_vector)
from tlcore.training.strategies import get_strategy

CPU = torch.device("cpu")
SPEC = SimpleNamespace(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), feature_dim=5)


class TinyNet(nn.Module):
    """conv -> BN -> ReLU -> conv -> BN -> pooled features: two layers whose statistics chain."""

    def __init__(self, norm=nn.BatchNorm2d):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.norm1 = nn.Conv2d(3, 4, 3, bias=False), norm(4)
        self.conv2, self.norm2 = nn.Conv2d(4, 5, 3, bias=False), norm(5)
        with torch.no_grad():  # weights unlike a fresh layer's, and statistics unlike the pictures'
            for norm_layer in (self.norm1, self.norm2):
                norm_layer.weight.uniform_(0.5, 2.0)
                norm_layer.bias.uniform_(-1.0, 1.0)
                if getattr(norm_layer, "running_mean", None) is not None:
                    norm_layer.running_mean.fill_(3.0)
                    norm_layer.running_var.fill_(9.0)
        self.spec = SPEC

    def forward(self, x):
        x = torch.relu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(x)).mean(dim=(2, 3))


def pictures(count: int, seed: int = 0, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def batch_statistics(net: TinyNet, images: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each BatchNorm's (mean, unbiased variance) of its input over one batch, computed by hand: in train
    mode the first layer normalizes with the batch's own statistics before the second sees it."""
    x = to_model_input(torch.from_numpy(images), SPEC.mean, SPEC.std, CPU)
    found = []
    with torch.no_grad():
        h = net.conv1(x)
        for norm, conv in ((net.norm1, net.conv2), (net.norm2, None)):
            mean, biased = h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3), unbiased=False)
            found.append((mean, h.var(dim=(0, 2, 3), unbiased=True)))
            h = (h - mean[None, :, None, None]) / torch.sqrt(biased[None, :, None, None] + norm.eps)
            h = h * norm.weight[None, :, None, None] + norm.bias[None, :, None, None]
            if conv is not None:
                h = conv(torch.relu(h))
    return found


def running(net: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(n.running_mean.clone(), n.running_var.clone()) for n in norm_layers(net)]


def assert_statistics(found, expected):
    for (mean, var), (want_mean, want_var) in zip(found, expected, strict=True):
        torch.testing.assert_close(mean, want_mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(var, want_var, rtol=1e-4, atol=1e-5)


def test_one_batch_gives_the_pictures_own_statistics():
    net, images = TinyNet(), pictures(10)
    weights = [p.clone() for p in net.parameters()]
    assert adapt_norm_statistics(net, images, device=CPU) == 2
    assert_statistics(running(net), batch_statistics(TinyNet(), images))
    assert not net.training and not any(n.training for n in norm_layers(net))
    assert all(n.momentum == 0.1 for n in norm_layers(net))  # the layers' own momentum is given back
    assert all(torch.equal(a, b) for a, b in zip(weights, net.parameters()))  # no weight moves


def test_several_batches_average_their_statistics():
    net, images = TinyNet(), pictures(12)
    adapt_norm_statistics(net, images, device=CPU, batch_pixels=4 * 12 * 12)  # three batches of four
    per_batch = [batch_statistics(TinyNet(), images[i:i + 4]) for i in (0, 4, 8)]
    expected = [tuple(torch.stack([b[layer][k] for b in per_batch]).mean(0) for k in (0, 1)) for layer in (0, 1)]
    assert_statistics(running(net), expected)


def test_batches_are_as_even_as_can_be():
    sizes = [len(b) for b in batch_rows(np.arange(10), 12, batch_pixels=4 * 12 * 12)]
    assert sizes == [4, 3, 3]  # not 4, 4, 2: a small last batch would weigh as much as a full one
    assert [len(b) for b in batch_rows(np.arange(200), 128)] == [200]  # a bench-sized set: one batch


def test_chosen_rows_alone_count():
    net, images = TinyNet(), pictures(9)
    adapt_norm_statistics(net, images, device=CPU, rows=[1, 4, 7])
    assert_statistics(running(net), batch_statistics(TinyNet(), images[[1, 4, 7]]))


def test_a_network_without_batchnorm_is_left_as_it_is():
    net = TinyNet(norm=lambda channels: nn.GroupNorm(1, channels))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert not has_norm_statistics(net)
    assert adapt_norm_statistics(net, pictures(6), device=CPU) == 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_statistics_travel_as_one_vector():
    net, other = TinyNet(), TinyNet()
    adapt_norm_statistics(net, pictures(6), device=CPU)
    load_statistics_vector(other, statistics_vector(net))
    assert_statistics(running(other), running(net))
    with pytest.raises(ValueError):
        load_statistics_vector(other, statistics_vector(net)[:-1])


def test_it_is_a_setting_of_feature_extraction_only():
    spec = get_strategy("feature_extraction")
    assert spec.adapts_norm_statistics({"adapt_norm": 1}) and not spec.adapts_norm_statistics({"adapt_norm": 0})
    assert "adapt_norm" in {s.key for s in spec.settings}
    assert not get_strategy("fine_tune").adapts_norm_statistics({"adapt_norm": 1})
    with pytest.raises(ConfigError, match="whole number"):
        check_config(RunConfig(data="x", options={"adapt_norm": 0.5}))
    with pytest.raises(ConfigError, match="no setting adapt_norm"):
        check_config(RunConfig(data="x", strategy="fine_tune", options={"adapt_norm": 1}))


# -- in the run's feature pass ---------------------------------------------------------------------------

class Pictures:
    """A set's pictures as a run holds them (SamplePictures' array and labels), from an array."""

    def __init__(self, array: np.ndarray):
        self.array, self.labels = array, np.arange(len(array)) % 2

    def __len__(self) -> int:
        return len(self.array)


def maker(net: nn.Module, train: np.ndarray, val: np.ndarray, adapt: int, rows=None) -> PhaseDataMaker:
    data = RunData(manifest=None, train=PictureSet("train", "fp-train", Pictures(train)),
                   val=PictureSet("val", "fp-train", Pictures(val)), train_rows=rows)
    config = RunConfig(data="x", image_size=32, options={"adapt_norm": adapt})
    return PhaseDataMaker(SimpleNamespace(backbone=net), data, config, lambda: ["tiny:pretrained"], CPU,
                          lambda: False, torch.Generator().manual_seed(0), {})


def test_validation_pictures_never_feed_the_statistics(home):
    train, val = pictures(8, seed=1), pictures(6, seed=2)
    first, second = TinyNet(), TinyNet()
    maker(first, train, val, 1).feature_inputs()
    maker(second, train, pictures(6, seed=3), 1).feature_inputs()  # other validation pictures
    assert_statistics(running(first), running(second))
    assert_statistics(running(first), batch_statistics(TinyNet(), train))  # the training pictures' own


def test_adapted_features_have_keys_of_their_own(home):
    train, val = pictures(8, seed=1), pictures(6, seed=2)
    plain, adapted = maker(TinyNet(), train, val, 0), maker(TinyNet(), train, val, 1)
    plain_features, adapted_features = plain.feature_inputs().by_set, adapted.feature_inputs().by_set
    assert plain.identities() == ["tiny:pretrained"]
    assert adapted.identities()[0].startswith("tiny:pretrained:norms:") and "fp-train" in adapted.identities()[0]
    assert not np.allclose(plain_features["val"], adapted_features["val"])
    drawn = maker(TinyNet(), train, val, 1, rows=np.array([0, 2, 4, 6]))  # another draw: other statistics
    assert drawn.identities() != adapted.identities()
    assert_statistics(running(drawn.model.backbone), batch_statistics(TinyNet(), train[[0, 2, 4, 6]]))
    again = maker(TinyNet(), train, val, 1)  # the statistics come from the cache, set in the model all the same
    np.testing.assert_array_equal(again.feature_inputs().by_set["val"], adapted_features["val"])
    assert_statistics(running(again.model.backbone), running(adapted.model.backbone))


def test_a_network_without_batchnorm_keeps_the_plain_key(home):
    net = TinyNet(norm=lambda channels: nn.GroupNorm(1, channels))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    made = maker(net, pictures(8, seed=1), pictures(6, seed=2), 1)
    made.feature_inputs()
    assert made.identities() == ["tiny:pretrained"]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# -- a real run ------------------------------------------------------------------------------------------

def test_a_run_with_adapted_statistics_keeps_them_in_its_model(tmp_path, monkeypatch, offline_torch_home):
    from imagegen import make_image_folder
    from tlcore.__main__ import main

    data = make_image_folder(tmp_path / "shapes", {"circles": 8, "squares": 8, "crosses": 8})
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(offline_torch_home))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["train", str(data), "--epochs", "2", "--image-size", "64", "--batch-size", "8",
                     "--adapt-norm", "1", "--quiet"])
    assert code == 0, err.getvalue()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    folder = RunFolder(result["run_dir"])
    manifest = folder.load_manifest()

    def split(name: str) -> SamplePictures:
        return SamplePictures(manifest.split(name), ImageCache(paths.cache_dir()), 64)

    model = load_checkpoint(folder.model_path)[0]
    expected = create_backbone("mobilenet_v2", pretrained=True)
    pretrained = running(expected)
    adapt_norm_statistics(expected, split("train").array[:], device=CPU)  # the training pictures alone
    assert_statistics(running(model.backbone), running(expected))
    assert not torch.allclose(running(model.backbone)[0][0], pretrained[0][0])
    val = split("val")
    answers = Predictor(folder.path).predict_arrays(val.array[:], top_k=1)
    labels = manifest.classes
    accuracy = np.mean([labels.index(top[0][0]) == label for top, label in zip(answers, val.labels)])
    assert accuracy == pytest.approx(result["best_val_acc"], abs=1e-4)

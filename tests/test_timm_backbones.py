"""The networks timm builds: each from its config with random weights and timm's preprocessing, one training
step of feature extraction and one of fine-tuning, the same answers once exported; weights read from the
Hugging Face cache the way timm reads them, and a download that cannot happen said in words.

The hub itself cannot be reached from the machines these tests run on: its weights files are stood in for by
random ones laid out as huggingface_hub lays out its cache.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tlcore import runs
from tlcore.config import RunConfig
from tlcore.models import weight_sources, weights
from tlcore.models.backbones import build_backbone, get_spec
from tlcore.models.classifier import create_classifier, load_checkpoint, save_checkpoint
from tlcore.models.timm_backbones import TIMM_NETWORKS
from tlcore.models.weights import WeightsUnavailable
from tlcore.runs import RunFolder
from tlcore.training.loop import set_phase_modes
from tlcore.training.strategies import PlanInputs, get_strategy
from ui.weights_words import first_use_words

ROOT = Path(__file__).resolve().parent.parent
NAMES = list(TIMM_NETWORKS)
# Seconds each on two cores, so among the slow tests: the ViTs (224 px pictures only; CLIP's has 88 M
# parameters), and MobileCLIP's FastViT, whose first pass sets up some 120 kinds of convolution.
QUICK_NAMES = [name if name.startswith("mobilenetv4") else pytest.param(name, marks=pytest.mark.slow)
               for name in NAMES]


def small_size(name: str) -> int:
    """The smallest picture worth a test: the fixed size of a ViT, else 64 px (2 x 2 after the last stride)."""
    return get_spec(name).fixed_image_size or 64


def published_state(name: str) -> dict[str, torch.Tensor]:
    """Random weights shaped as the published file: classifier or projection included, DINOv2's at 518 px."""
    import timm

    return timm.create_model(TIMM_NETWORKS[name].model, pretrained=False).state_dict()


def put_in_hub_cache(cache: Path, name: str, state: dict[str, torch.Tensor]) -> Path:
    """Lay a weights file out as huggingface_hub's cache does: refs/main names the snapshot holding it."""
    from safetensors.torch import save_file

    spec = get_spec(name)
    repo = cache / f"models--{spec.weights_hub.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / spec.weights_file)
    return snapshot / spec.weights_file


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, and no internet."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    weight_sources.reset_reachability_cache()
    yield tmp_path / "hf"
    weight_sources.reset_reachability_cache()


# ---------------------------------------------------------------- built from timm's configs

NOTHING_OF_TIMM = """
import sys
from tlcore.models.backbones import list_backbones
from tlcore.models.weights import weights_status
print(sorted({weights_status(spec.name).source for spec in list_backbones()}))
assert "timm" not in sys.modules and "torch._dynamo" not in sys.modules, "timm came in before it was used"
from tlcore.models.weights import create_backbone
create_backbone("mobilenetv4_conv_small", pretrained=False)
print("timm" in sys.modules)
"""


@pytest.mark.slow
def test_nothing_of_timm_is_imported_until_one_of_its_networks_is_built(tmp_path):
    env = {**os.environ, "TLSTUDIO_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "TORCH_HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", NOTHING_OF_TIMM], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["['none',", "'pypi']", "True"]


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_carries_timms_preprocessing_and_hub_repository(name):
    import timm
    from timm.data import resolve_data_config

    network, spec = TIMM_NETWORKS[name], get_spec(name)
    config = timm.get_pretrained_cfg(network.model)
    data = resolve_data_config(pretrained_cfg=config.to_dict())
    assert (spec.mean, spec.std) == (tuple(data["mean"]), tuple(data["std"]))
    # DINOv2's weights are for 518 px; the studio builds it for 224 px, where it was asked for.
    assert spec.default_image_size == network.options.get("img_size", data["input_size"][-1])
    assert spec.fixed_image_size in (None, network.options.get("img_size", data["input_size"][-1]))
    assert spec.weights_hub == config.hf_hub_id and spec.weights_label == network.model
    assert spec.weights_url is None and 0 < spec.imagenet_top1 < 100


@pytest.fixture(scope="module", params=QUICK_NAMES)
def backbone(request):
    torch.manual_seed(0)
    return weights.create_backbone(request.param, pretrained=False).eval()


@pytest.mark.slow
def test_the_figures_are_those_of_the_network_built(backbone):
    """Parameters: the body plus the published classifier (or CLIP projection); GMACs counted at the
    default size; the file about 4 bytes a parameter."""
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    spec = backbone.spec
    classes = timm.get_pretrained_cfg(TIMM_NETWORKS[spec.name].model).num_classes
    body = sum(p.numel() for p in backbone.parameters())
    assert spec.params_m == pytest.approx((body + (spec.feature_dim + 1) * classes) / 1e6, abs=0.01)
    size = spec.default_image_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        backbone(torch.rand(1, 3, size, size))
    assert spec.gflops == pytest.approx(counter.get_total_flops() / 2e9, rel=0.002)
    # DINOv2's file holds its 518 px position embeddings besides the 224 px network's parameters.
    assert spec.weights_size_mb == pytest.approx(spec.params_m * 4, rel=0.025)


def test_the_layer_to_explain_gives_a_map(backbone):
    """(Features and stages are checked for every backbone in test_backbones.py, Grad-CAM in test_explain.py.)"""
    size = small_size(backbone.spec.name)
    maps = []
    hook = backbone.explain_layer.register_forward_hook(lambda module, args, out: maps.append(out))
    with torch.no_grad():
        backbone(torch.rand(1, 3, size, size))
    hook.remove()
    laid_out = backbone.explain_reshape(maps[0]) if backbone.explain_reshape else maps[0]
    assert laid_out.ndim == 4 and laid_out.shape[0] == 1 and min(laid_out.shape[2:]) >= 2  # a map, not a vector


def one_step(model: nn.Module, phase, images: torch.Tensor, labels: torch.Tensor) -> None:
    """One optimizer step of a phase, as the loop takes it: frozen parts and frozen statistics in eval mode."""
    set_phase_modes(model, phase)
    inputs = images
    if phase.inputs == "embeddings":  # features computed once, without gradients
        with torch.no_grad():
            inputs = model.backbone(images)
    optimizer = torch.optim.AdamW(phase.param_groups)
    F.cross_entropy(phase.module(inputs), labels).backward()
    optimizer.step()


def copies(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def moved(before: list[torch.Tensor], module: nn.Module) -> list[bool]:
    return [not torch.equal(a, p) for a, p in zip(before, module.parameters())]


@pytest.mark.parametrize("name", QUICK_NAMES)
def test_one_step_of_feature_extraction_and_one_of_fine_tuning(name):
    size = small_size(name)
    torch.manual_seed(0)
    images, labels = torch.rand(2, 3, size, size), torch.tensor([0, 2])

    config = RunConfig(data="x", backbone=name, image_size=size, strategy="feature_extraction")
    model = create_classifier(config, 3, pretrained=False)
    (phase,) = get_strategy("feature_extraction").plan(model, config, PlanInputs())
    body, head = copies(model.backbone), copies(model.head)
    one_step(model, phase, images, labels)
    assert all(moved(head, model.head)) and not any(moved(body, model.backbone))

    config = RunConfig(data="x", backbone=name, image_size=size, strategy="fine_tune", unfreeze_stages=2)
    model = create_classifier(config, 3, pretrained=False)
    phases = get_strategy("fine_tune").plan(model, config, PlanInputs())
    assert [p.name for p in phases] == ["head", "body"]
    stages = model.backbone.stages()
    first, last = copies(stages[0]), copies(stages[-1])
    for phase in phases:
        one_step(model, phase, images, labels)
    assert any(moved(last, stages[-1])) and not any(moved(first, stages[0]))


# Every format for a convolutional network, ONNX for a ViT: 20 to 90 s each on two cores, so not every network
# in the suite (each of the five was exported and checked this way when it was added).
ALL_FORMATS = {"mobilenetv4_conv_small"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenetv4_conv_small", "dinov2_vits14"])
def test_the_exports_give_the_answers_of_the_model(name, shapes, home, tmp_path):
    import onnxruntime

    from tlcore.serve.export import FORMATS, export_run

    size = small_size(name)
    config = RunConfig(data=str(shapes), backbone=name, image_size=size)
    run_dir = runs.create_run(config)
    torch.manual_seed(0)
    save_checkpoint(RunFolder(run_dir).model_path, create_classifier(config, 3, pretrained=False), config,
                    ["a", "b", "c"])
    written = export_run(run_dir, tmp_path / "export", formats=FORMATS if name in ALL_FORMATS else ("onnx",))
    model, *_ = load_checkpoint(RunFolder(run_dir).model_path)
    spec = model.backbone.spec
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(1))

    def logits(out) -> np.ndarray:  # the first output, where an export gives more than the logits
        return np.asarray(out[0] if isinstance(out, (tuple, list)) else out)

    with torch.no_grad():
        expected = model((x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1))
        answers = {"onnx": logits(onnxruntime.InferenceSession(str(written["onnx"])).run(None, {"image": x.numpy()}))}
        if "pt2" in written:
            answers["torchscript"] = logits(torch.jit.load(str(written["torchscript"]))(x))
            answers["pt2"] = logits(torch.export.load(str(written["pt2"])).module()(x))
    scale = expected.abs().max().item()
    for kind, answer in answers.items():
        assert np.abs(answer - expected.numpy()).max() <= 1e-4 * scale, kind


@pytest.mark.slow
@pytest.mark.parametrize("strategy, settings", [
    # The other strategies' plans are the same parts (tested on every network in the one-step test above);
    # each was run this way when the networks were added.
    ("feature_extraction", {}), ("fine_tune", {"head_epochs": 1, "unfreeze_stages": 2})])
def test_a_run_trains_with_weights_from_the_hub_cache(strategy, settings, shapes, home, hub_cache, tmp_path):
    """The worker's own path, pretrained weights included: a run on the features and one that adjusts the
    body finish on a network timm builds."""
    from tlcore.runs.execution.worker import execute_run

    put_in_hub_cache(hub_cache, "mobilenetv4_conv_small", published_state("mobilenetv4_conv_small"))
    config = RunConfig(data=str(shapes), backbone="mobilenetv4_conv_small", strategy=strategy, image_size=64,
                       batch_size=8, epochs=1, **settings)
    status = execute_run(runs.create_run(config))
    assert status["state"] == "succeeded", status.get("error")


# ---------------------------------------------------------------- weights: the hub's cache, and words when missing

def test_weights_from_the_hub_cache_are_read_as_timm_reads_them(hub_cache):
    state = published_state("mobilenetv4_conv_small")
    path = put_in_hub_cache(hub_cache, "mobilenetv4_conv_small", state)
    status = weights.weights_status("mobilenetv4_conv_small")
    assert status.available and status.source == "cached" and str(path) in status.detail
    torch.manual_seed(0)
    build_backbone("mobilenetv4_conv_small")
    after_building = torch.rand(3)
    torch.manual_seed(0)
    backbone = weights.create_backbone("mobilenetv4_conv_small")
    assert torch.equal(torch.rand(3), after_building)  # reading the weights drew no random numbers of the run's
    body = backbone.body.state_dict()
    assert all(torch.equal(body[k], state[k]) for k in body)
    assert set(state) - set(body) == {"classifier.weight", "classifier.bias"}  # the published classifier dropped
    assert backbone.weights_origin == "mobilenetv4_conv_small.e2400_r224_in1k"


@pytest.mark.slow
def test_dinov2s_position_embeddings_are_fitted_to_224_px(hub_cache):
    state = published_state("dinov2_vits14")
    put_in_hub_cache(hub_cache, "dinov2_vits14", state)
    body = weights.create_backbone("dinov2_vits14").body.state_dict()
    assert state["pos_embed"].shape == (1, 1 + 37 * 37, 384) and body["pos_embed"].shape == (1, 1 + 16 * 16, 384)
    assert torch.equal(body["pos_embed"][:, 0], state["pos_embed"][:, 0])  # the class token's is kept
    assert all(torch.equal(body[k], state[k]) for k in body if k != "pos_embed")


def test_without_the_internet_a_missing_download_is_said_in_words(hub_cache):
    status = weights.weights_status("dinov2_vits14")
    assert not status.available and status.detail == "not in the Hugging Face cache; offline mode"
    with pytest.raises(WeightsUnavailable) as raised:
        weights.create_backbone("dinov2_vits14")
    said = str(raised.value)
    assert said.startswith("Pretrained weights for DINOv2 ViT-S/14 (dinov2_vits14, vit_small_patch14_dinov2.lvd142m")
    assert f"Hugging Face cache ({hub_cache}): not there" in said
    assert "download from the Hugging Face hub (huggingface.co): offline mode (TLSTUDIO_OFFLINE)" in said
    assert "train it from scratch" in said and "models--timm--vit_small_patch14_dinov2.lvd142m" in said
    assert "dinov2_vits14" not in raised.value.available


def test_a_hub_that_does_not_answer_is_said_in_words(hub_cache, monkeypatch):
    monkeypatch.delenv("TLSTUDIO_OFFLINE")
    monkeypatch.setattr(weight_sources, "_answers_head_request", lambda url: False)
    status = weights.weights_status("mobileclip2_s0")
    assert not status.available and status.detail == "not in the Hugging Face cache; huggingface.co unreachable"
    with pytest.raises(WeightsUnavailable, match=r"download from the Hugging Face hub \(huggingface.co\): no answer"):
        weights.create_backbone("mobileclip2_s0")


def test_a_download_the_hub_refuses_is_said_in_its_words(hub_cache, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("TLSTUDIO_OFFLINE")
    monkeypatch.setattr(weight_sources, "_answers_head_request", lambda url: True)
    status = weights.weights_status("mobilenetv4_conv_medium")
    assert status.source == "download" and status.detail == "downloaded on first use from huggingface.co (39 MB)"

    def refuse(repo, filename, cache_dir):
        assert (repo, filename, cache_dir) == ("timm/mobilenetv4_conv_medium.e500_r256_in1k", "model.safetensors",
                                               hub_cache)
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub.")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    with pytest.raises(WeightsUnavailable) as raised:
        weights.create_backbone("mobilenetv4_conv_medium")
    assert ("download of model.safetensors from the Hugging Face hub (huggingface.co/timm/"
            "mobilenetv4_conv_medium.e500_r256_in1k) failed: An error happened while trying to locate the file "
            "on the Hub.") in str(raised.value)


def test_a_damaged_file_in_the_hub_cache_says_to_delete_it(hub_cache):
    path = put_in_hub_cache(hub_cache, "mobilenetv4_conv_small", {"x": torch.zeros(1)})
    path.write_bytes(path.read_bytes()[:20])  # a download cut short
    with pytest.raises(WeightsUnavailable, match="could not be read .* delete it"):
        weights.create_backbone("mobilenetv4_conv_small")


def test_a_mirror_of_the_hub_is_where_the_studio_looks(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org/")
    assert weight_sources.hub_file_url("timm/x", "model.safetensors") == \
        "https://hub.example.org/timm/x/resolve/main/model.safetensors"
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", "/srv/hf")
    assert weight_sources.hub_cache_dir() == Path("/srv/hf/hub")


# ---------------------------------------------------------------- the Train page's network picker

@pytest.mark.parametrize("source, available, words", [
    ("download", True, " · downloads about 88 MB on first use"),
    ("none", False, " · not available here (its first use downloads about 88 MB, which needs the internet)"),
    ("cached", True, ""),
])
def test_the_picker_says_what_a_first_use_downloads(source, available, words):
    status = {"available": available, "source": source, "detail": ""}
    assert first_use_words(get_spec("dinov2_vits14"), status) == words

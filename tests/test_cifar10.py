"""CIFAR-10, one click away where it can be downloaded; refused in words where it cannot."""
import socket

import pytest

from apptest_support import home, open_app, open_folder, texts  # noqa: F401 (fixtures)
from conftest import refuse_network
from imagegen import make_image_folder
from tlcore.data.samples import COMPLETE, DatasetUnavailable, install_cifar10


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", refuse_network)
    monkeypatch.setattr(socket.socket, "connect", refuse_network)


def test_without_the_internet_cifar10_is_refused_with_the_reason(home, offline, tmp_path):
    with pytest.raises(DatasetUnavailable, match="CIFAR-10 could not be downloaded from www.cs.toronto.edu .* "
                                                 "needs the internet once"):
        install_cifar10(dest=tmp_path / "cifar")
    assert not (tmp_path / "cifar" / COMPLETE).exists()


def test_the_data_page_says_why_and_keeps_the_dataset_chosen(home, offline):
    folder = make_image_folder(home / "mine", {"cats": 4, "dogs": 4})
    at = open_folder(open_app("app_pages/data.py"), folder)
    next(b for b in at.button if b.label == "Use CIFAR-10").click().run()
    assert not at.exception
    assert "CIFAR-10 could not be downloaded" in texts(at.error) and "Traceback" not in texts(at.error)
    assert at.session_state["dataset"].label == "mine"

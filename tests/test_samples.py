"""The one-click datasets: the built-in sample and Fashion-MNIST (the system copy, else torchvision's download)."""
import shutil

import numpy as np
import pytest
from PIL import Image

from tlcore.data import samples

needs_system_copy = pytest.mark.skipif(not samples.SYSTEM_FASHION_MNIST.exists(),
                                       reason="Debian's dataset-fashion-mnist is not installed")


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))


def class_counts(folder):
    return {d.name: len(list(d.glob("*.png"))) for d in sorted(folder.iterdir()) if d.is_dir()}


def test_the_sample_is_five_classes_of_forty_real_images(tmp_path):
    folder = samples.install_sample(tmp_path / "sample")
    counts = class_counts(folder)
    assert len(counts) == 5 and set(counts.values()) == {40}
    image = Image.open(next(folder.rglob("*.png")))
    assert image.size == (28, 28) and np.asarray(image).std() > 10  # a picture, not a blank


@needs_system_copy
def test_fashion_mnist_from_the_system_copy(tmp_path):
    folder = samples.install_fashion_mnist(train_per_class=4, val_per_class=3, dest=tmp_path / "fmnist")
    assert class_counts(folder / "train") == {name: 4 for name in ("ankle_boot", "bag", "sandal", "shirt", "sneaker")}
    assert set(class_counts(folder / "val").values()) == {3}
    assert samples.install_fashion_mnist(train_per_class=4, val_per_class=3, dest=tmp_path / "fmnist") == folder


@needs_system_copy
def test_fashion_mnist_falls_back_to_torchvisions_download(tmp_path, monkeypatch):
    """Without the system copy, torchvision's FashionMNIST(download=True) fetches the files; here the
    network is replaced by a copy of the same files into the folder torchvision downloads to."""
    import torchvision.datasets

    system_copy = samples.SYSTEM_FASHION_MNIST
    fetched = []

    class Download:
        def __init__(self, root, train, download):
            assert download
            raw = root / "FashionMNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for name in system_copy.glob("*.gz"):
                shutil.copy(name, raw / name.name)
            fetched.append(train)

    monkeypatch.setattr(samples, "SYSTEM_FASHION_MNIST", tmp_path / "not-installed")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", Download)
    folder = samples.install_fashion_mnist(train_per_class=2, val_per_class=2, dest=tmp_path / "fmnist")
    assert fetched == [True, False]  # the training split, then the test split
    assert set(class_counts(folder / "train").values()) == {2}


def test_the_built_in_sample_is_scanned_without_warnings_or_skipped_files():
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    folder = samples.install_sample()
    manifest = scan(folder, cache=ImageCache(paths.cache_dir()))
    assert len(manifest.samples) == 200
    assert manifest.warnings == [] and manifest.skipped == []  # no "may train poorly", no ".complete" listed


def test_a_sample_installed_with_the_earlier_mark_is_not_written_again_and_loses_the_mark():
    folder = samples.install_sample()
    (folder / samples.COMPLETE).rename(folder / samples.EARLIER_COMPLETE)
    picture = next(folder.rglob("*.png"))
    picture.unlink()  # written again only if the set were taken for unfinished
    assert samples.is_built_in(folder)
    assert samples.install_sample() == folder
    assert not picture.exists()
    assert (folder / samples.COMPLETE).is_file() and not (folder / samples.EARLIER_COMPLETE).exists()


def test_small_pictures_of_ones_own_are_still_said_to_train_poorly(tmp_path):
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    folder = samples.install_sample(tmp_path / "a copy of mine")  # outside the studio's data folder
    manifest = scan(folder, cache=ImageCache(paths.cache_dir()))
    assert any("may train poorly" in warning for warning in manifest.warnings)

"""Datasets a person can get with one click: a built-in sample, Fashion-MNIST, and CIFAR-10.

The built-in sample is 200 real Fashion-MNIST images (5 classes x 40) shipped in the package,
so the first run needs no download at all.
"""
import gzip
from pathlib import Path

import numpy as np
from PIL import Image

from tlcore import paths

SAMPLE_FILE = Path(__file__).parent / "sample_files" / "fashion_mini.npz"
FASHION_NAMES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def _write_folder(dest: Path, images: np.ndarray, labels: np.ndarray, names, split: str | None = None) -> None:
    counters: dict[int, int] = {}
    for image, label in zip(images, labels):
        label = int(label)
        k = counters[label] = counters.get(label, 0) + 1
        folder = dest / split / names[label] if split else dest / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{names[label]}_{k:05d}.png")


# Written last by every install_* below: a built-in set the studio made whole. Its name marks it as the
# studio's own bookkeeping, which a scan leaves out without listing it among the skipped files.
COMPLETE = ".tlstudio-complete"
EARLIER_COMPLETE = ".complete"  # the same mark in sets installed by earlier versions of the studio


def _marked_whole(folder: Path) -> bool:
    return (folder / COMPLETE).is_file() or (folder / EARLIER_COMPLETE).is_file()


def _is_whole(folder: Path) -> bool:
    """Whether an install_* finished writing the folder; an earlier version's mark is renamed to today's on
    the way, so that the set's next scan no longer lists it as a skipped hidden file."""
    earlier = folder / EARLIER_COMPLETE
    if earlier.is_file() and not (folder / COMPLETE).exists():
        try:
            earlier.replace(folder / COMPLETE)
        except OSError:  # a data folder that cannot be written: the set is whole all the same
            return True
    return (folder / COMPLETE).is_file()


def is_built_in(path: str | Path) -> bool:
    """Whether a path lies in one of the studio's built-in sets (the sample, Fashion-MNIST, CIFAR-10, the
    domain-shift pairs), made in the data folder by the install_* functions: pictures everyone may use."""
    try:
        resolved, data = Path(path).resolve(), paths.data_dir().resolve()
    except (OSError, ValueError):
        return False
    if not resolved.is_relative_to(data) or resolved == data:
        return False
    top = data / resolved.relative_to(data).parts[0]
    return _marked_whole(top) and not top.name.startswith(("upload-", "camera-"))


def install_sample(dest: Path | None = None) -> Path:
    """Write the built-in sample as an image folder (once) and return it."""
    dest = Path(dest or paths.data_dir() / "sample-fashion")
    if not _is_whole(dest):
        with np.load(SAMPLE_FILE) as sample:
            _write_folder(dest, sample["images"], sample["labels"], [str(n) for n in sample["names"]])
        (dest / COMPLETE).touch()
    return dest


def _read_idx(raw: bytes, offset: int) -> np.ndarray:
    return np.frombuffer(gzip.decompress(raw), np.uint8, offset=offset)


def load_fashion_mnist(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images and labels ('train' or 't10k'): the system copy, else torchvision's download."""
    if SYSTEM_FASHION_MNIST.exists():
        read = lambda name: (SYSTEM_FASHION_MNIST / name).read_bytes()
    else:
        from tlcore.vision import import_torchvision

        FashionMNIST = import_torchvision().datasets.FashionMNIST
        root = paths.cache_dir() / "torchvision"
        FashionMNIST(root, train=(kind == "train"), download=True)
        raw_dir = root / "FashionMNIST" / "raw"
        read = lambda name: (raw_dir / name).read_bytes()
    labels = _read_idx(read(f"{kind}-labels-idx1-ubyte.gz"), 8)
    images = _read_idx(read(f"{kind}-images-idx3-ubyte.gz"), 16).reshape(len(labels), 28, 28)
    return images, labels


def install_fashion_mnist(classes=(5, 6, 7, 8, 9), train_per_class: int = 40, val_per_class: int = 100,
                          seed: int = 0, dest: Path | None = None) -> Path:
    """Fashion-MNIST as train/ and val/ image folders (val from the official test split)."""
    return _install_draw("fashion-mnist", lambda train: load_fashion_mnist("train" if train else "t10k"), FASHION_NAMES,
                         classes, train_per_class, val_per_class, seed, dest)


def _install_draw(name: str, load, names: list[str], classes, train_per_class: int, val_per_class: int, seed: int,
                  dest: Path | None) -> Path:
    """A seeded draw of some classes as train/ and val/ image folders, written once.

    Args:
        load: train (bool) -> (images, labels) of the official training or test split; val comes
            from the test split, so validation pictures are never training ones.
    """
    tag = f"{'-'.join(map(str, classes))}_{train_per_class}_{val_per_class}_{seed}"
    dest = Path(dest or paths.data_dir() / f"{name}-{tag}")
    if _is_whole(dest):
        return dest
    rng = np.random.default_rng(seed)
    for split, train, per_class in (("train", True, train_per_class), ("val", False, val_per_class)):
        images, labels = load(train)
        chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in classes])
        _write_folder(dest, images[chosen], labels[chosen], names, split)
    (dest / COMPLETE).touch()
    return dest


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_URL_HOST = "www.cs.toronto.edu"  # where torchvision downloads CIFAR-10 from (170 MB)


class DatasetUnavailable(OSError):
    """A ready-made dataset that cannot be had here, with the reason for people."""


def load_cifar10(train: bool) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's 32x32 colour pictures and labels, downloaded once by torchvision into the cache."""
    from tlcore.vision import import_torchvision

    CIFAR10 = import_torchvision().datasets.CIFAR10
    try:
        data = CIFAR10(paths.cache_dir() / "torchvision", train=train, download=True)
    except Exception as error:  # a refused connection, a timeout, a cut download: one meaning here
        raise DatasetUnavailable(f"CIFAR-10 could not be downloaded from {CIFAR_URL_HOST} (170 MB) here: "
                                 f"{type(error).__name__}: {error}. It needs the internet once; after that it "
                                 "is kept on this computer. Fashion-MNIST works without it.") from None
    return np.asarray(data.data), np.asarray(data.targets)


def install_cifar10(classes=(5, 6, 7, 8, 9), train_per_class: int = 40, val_per_class: int = 100,
                    seed: int = 0, dest: Path | None = None) -> Path:
    """CIFAR-10 as train/ and val/ image folders (val from the official test split), as for Fashion-MNIST."""
    return _install_draw("cifar10", load_cifar10, CIFAR_NAMES, classes, train_per_class, val_per_class, seed, dest)


# -- a pair of domains: the same classes, pictures that look different --------------------------------

SHIFTS = {
    "inverted": "Negative: light clothes on a white background, every grey turned around",
    "textured": "Tinted clothes on a random coloured, striped background",
}


def shifted(images: np.ndarray, shift: str, rng: np.random.Generator) -> np.ndarray:
    """Greyscale 28x28 Fashion-MNIST images, as RGB with a visible change of domain (see SHIFTS)."""
    grey = images.astype(np.float32) / 255.0
    if shift == "inverted":
        rgb = np.repeat((1.0 - grey)[..., None], 3, axis=-1)
    elif shift == "textured":
        n, h, w = grey.shape
        tint = rng.uniform(0.3, 1.0, size=(n, 1, 1, 3))
        background_colour = rng.uniform(0.0, 1.0, size=(n, 1, 1, 3))
        period = rng.integers(3, 7, size=(n, 1, 1))
        angle = rng.integers(0, 2, size=(n, 1, 1))
        ys, xs = np.mgrid[0:h, 0:w]
        stripes = (((np.where(angle == 0, ys, xs + ys)) // period) % 2).astype(np.float32)[..., None]
        background = background_colour * (0.55 + 0.45 * stripes)
        rgb = np.where(grey[..., None] > 0.1, grey[..., None] * tint, background)
    else:
        raise ValueError(f"Unknown shift '{shift}'; choose one of {', '.join(SHIFTS)}.")
    return (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)


def install_domain_pair(shift: str = "textured", classes=(5, 6, 7, 8, 9), train_per_class: int = 40,
                        target_per_class: int = 100, seed: int = 0, dest: Path | None = None) -> tuple[Path, Path]:
    """The domain-shift demonstration: Fashion-MNIST as the labelled pictures (install_fashion_mnist's
    folder), and the same classes with a visible shift as the pictures the model will meet.

    The target's pictures come from Fashion-MNIST's training split, none of them among the source's
    own (its training pictures come from that split too, its validation ones from the test split).
    The target keeps its class folders: the labels give the accuracy there, and never reach training.

    Returns:
        (the source folder, the target folder).
    """
    source = install_fashion_mnist(classes=classes, train_per_class=train_per_class, seed=seed)
    tag = f"{'-'.join(map(str, classes))}_{train_per_class}_{target_per_class}_{seed}"
    target = Path(dest or paths.data_dir() / f"fashion-mnist-{shift}-{tag}")
    if _is_whole(target):
        return source, target
    if shift not in SHIFTS:
        raise ValueError(f"Unknown shift '{shift}'; choose one of {', '.join(SHIFTS)}.")
    images, labels = load_fashion_mnist("train")
    # install_fashion_mnist drew its training pictures with this generator first: draw them again to leave them out.
    taken = set()
    rng = np.random.default_rng(seed)
    for c in classes:
        taken.update(rng.choice(np.flatnonzero(labels == c), train_per_class, replace=False).tolist())
    draw = np.random.default_rng(seed + 1)
    chosen = np.concatenate([draw.choice([i for i in np.flatnonzero(labels == c) if i not in taken], target_per_class,
                                         replace=False) for c in classes])
    _write_folder(target, shifted(images[chosen], shift, draw), labels[chosen], FASHION_NAMES)
    (target / COMPLETE).touch()
    return source, target

"""A run's pictures, read once before any network work: named sets, not tuples.

The training and validation sets come from the dataset as checked on the Data page (it travels in
the run folder) or from a scan of the folder the config names (the CLI); a target set and a second
labelled dataset for joint training come from their own folders. Each set carries its pictures
(read from the image cache only when a phase needs the pixels), its labels and the fingerprint its
cached features are keyed by.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tlcore.data.batches import should_balance
from tlcore.data.decoding import SamplePictures
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import Manifest, TargetSet
from tlcore.data.scan import DataError, for_run, scan, scan_target
from tlcore.runs.execution.status_writer import StatusWriter
from tlcore.runs.execution.timing import throttled, timed
from tlcore.runs.store.folder import RunFolder
from tlcore.training.phase_inputs import StopRequested


@dataclass(frozen=True)
class PictureSet:
    """One named set of a run's pictures ("train", "val", "target", "joint")."""

    name: str
    fingerprint: str  # what its cached features are keyed by, with the network and the image size
    pictures: SamplePictures

    @property
    def labels(self) -> np.ndarray:
        """Class indices; -1 for a target picture without a label."""
        return self.pictures.labels

    def __len__(self) -> int:
        return len(self.pictures)


@dataclass
class RunData:
    """Everything a run trains, validates and checks on."""

    manifest: Manifest
    train: PictureSet
    val: PictureSet
    target: PictureSet | None = None
    joint: PictureSet | None = None
    target_set: TargetSet | None = None  # the target pictures as checked (classes found, skipped files)
    joint_classes: list[str] = field(default_factory=list)
    train_rows: np.ndarray | None = None  # the training pictures learned from (a draw per class), None for all
    balanced: bool = False  # every class drawn equally often while training

    @property
    def classes(self) -> list[str]:
        return self.manifest.classes

    @property
    def sets(self) -> dict[str, PictureSet]:
        """Every set the run has, by name."""
        found = {"train": self.train, "val": self.val, "target": self.target, "joint": self.joint}
        return {name: picture_set for name, picture_set in found.items() if picture_set is not None}

    @property
    def trained_labels(self) -> np.ndarray:
        """The labels of the training pictures learned from."""
        return self.train.labels if self.train_rows is None else self.train.labels[self.train_rows]

    def pictures_described(self, config) -> tuple[int, int, int, int]:
        """(trained, validated, target, described besides) for the work meter. The feature pass describes
        whole sets: all the training split (a run that learns from a draw of it included), each varied
        copy of it, and with TTA the mirror images of the sets checked."""
        trained, whole, val = len(self.trained_labels), len(self.train), len(self.val)
        targets = len(self.target) if self.target is not None else 0
        besides = whole - trained + config.augment_views * whole + (val + targets if config.tta else 0)
        return trained, val, targets, besides


def read_run_data(folder: RunFolder, config, *, cache: ImageCache, status: StatusWriter, should_stop,
                  timings: dict, writes: bool = True) -> RunData:
    """The run's pictures, checked; the dataset (and target) as trained on kept in the folder when this
    process writes it. DataError in words when a set cannot be used."""
    manifest = checked_manifest(folder, config, cache, status, should_stop, timings)
    if writes:
        folder.save_trained_dataset(manifest)
    target = checked_target(folder, config, manifest, cache, status, should_stop, timings, writes) \
        if config.target else None
    with timed(timings, "load_arrays_s"):
        def picture_set(name: str, samples, fingerprint: str) -> PictureSet:
            return PictureSet(name, fingerprint, SamplePictures(samples, cache, config.image_size))
        data = RunData(manifest, picture_set("train", manifest.split("train"), manifest.fingerprint()),
                       picture_set("val", manifest.split("val"), manifest.fingerprint()), target_set=target)
        if target is not None:
            data.target = picture_set("target", target.samples, target.fingerprint())
        if config.joint_with:
            joint = joint_dataset(config, cache, status, should_stop)
            data.joint, data.joint_classes = picture_set("joint", joint.samples, joint.fingerprint()), joint.classes
    if config.train_per_class:
        data.train_rows = draw_per_class(data.train.labels, config.train_per_class, config.seed)
    data.balanced = should_balance(data.trained_labels, config.balance)
    return data


def checked_manifest(folder: RunFolder, config, cache: ImageCache, status: StatusWriter, should_stop,
                     timings) -> Manifest:
    """The dataset as the person checked it on the Data page, set up for this run's image size and
    validation draw; a dataset given by path alone (the CLI) is scanned now."""
    if folder.has_checked_manifest():
        return for_run(folder.load_checked_manifest(), image_size=config.image_size,
                       val_fraction=config.val_fraction, seed=config.seed)
    with timed(timings, "scan_s"):
        return scan(Path(config.data), cache=cache, image_size=config.image_size, val_fraction=config.val_fraction,
                    seed=config.seed, on_progress=progress_reporter(status, "scanning", should_stop))


def progress_reporter(status: StatusWriter, stage: str, should_stop):
    """A scan's progress callback: the stage's counts in the status, and a cancel honoured between files."""
    status.stage(stage, done=0, total=0)
    report = throttled(lambda done, total: status.stage(stage, done=done, total=total))

    def progress(done: int, total: int) -> None:
        if should_stop():  # a big folder takes minutes to decode the first time
            raise StopRequested()
        report(done, total)
    return progress


def checked_target(folder: RunFolder, config, manifest: Manifest, cache: ImageCache, status: StatusWriter,
                   should_stop, timings, writes: bool = True) -> TargetSet:
    """The target pictures, checked now and kept in the run folder (when this process writes it);
    refused when they are the training ones."""
    with timed(timings, "scan_s"):
        target = scan_target(Path(config.target), classes=manifest.classes, cache=cache, image_size=config.image_size,
                             on_progress=progress_reporter(status, "checking the target pictures", should_stop))
    if target.copies_training_pictures(manifest):
        raise DataError("Every target picture is also a training picture; choose pictures from where the model "
                        "will be used, not the training ones.")
    if writes:
        folder.save_target(target)
    return target


def joint_dataset(config, cache: ImageCache, status: StatusWriter, should_stop) -> Manifest:
    """The second labelled dataset of joint training, all its pictures; refused in words when unusable."""
    if not Path(config.joint_with).expanduser().exists():
        raise DataError(f"The second dataset for joint training, '{config.joint_with}', does not exist (any more).")
    try:
        return scan(config.joint_with, cache=cache, image_size=config.image_size, val_fraction=config.val_fraction,
                    seed=config.seed, on_progress=progress_reporter(status, "checking the second dataset", should_stop))
    except DataError as error:
        raise DataError(f"The second dataset for joint training cannot be used: {error}") from None


def draw_per_class(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Rows of up to per_class training pictures of each class, drawn with the seed (a class with fewer
    gives all it has), in their original order so the run's batches follow from its seed alone."""
    rng = np.random.default_rng(seed)
    rows = [rng.choice(np.flatnonzero(labels == c), min(per_class, int((labels == c).sum())), replace=False)
            for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))

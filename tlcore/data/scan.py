"""Scan an image folder or zip into a validated, split dataset manifest.

Every image is decoded once here (through the image cache, tlcore.data.decoding), so problems
surface on the data page instead of in the middle of training.
"""
from __future__ import annotations

import os
import random
import shutil
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from tlcore import paths
from tlcore.config import DEFAULT_IMAGE_SIZE
from tlcore.data.archive import extract_zip
from tlcore.data.decoding import SMALL_IMAGE_SIDE, decode_files
from tlcore.data.imagecache import ImageCache, content_key
from tlcore.data.manifest import DataError, Manifest, Sample, Skipped, TargetSet, is_junk, why_left_out
from tlcore.jsonio import read_json, write_json_atomic

SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "test": "test", "testing": "test"}
MIN_IMAGES_PER_CLASS = 2
FEW_IMAGES = 10
IMBALANCE_RATIO = 2.0  # beyond it the check says so, and training balances (tlcore.data.batches.BALANCE_RATIO)
_EXTRACTED_MARKER = ".tlstudio-extracted.json"  # hidden, so scanning ignores it


def scan(source: str | os.PathLike, *, cache: ImageCache, image_size: int = DEFAULT_IMAGE_SIZE,
         val_fraction: float = 0.2, seed: int = 0, extract_dir: Path | None = None,
         on_progress: Callable[[int, int], None] | None = None) -> Manifest:
    """Validate a dataset folder or zip, decode every image into the cache, and split it.

    Args:
        source: a folder of class folders, a folder with train/ and val/ (optionally test/) of
            class folders, or a .zip of either.
        cache: where decoded images go.
        image_size: side of the square arrays stored in the cache.
        val_fraction: share of each class set aside for validation when no split is given.
        seed: makes the drawn split reproducible.
        extract_dir: where a zip is extracted (default: the studio's data folder).
        on_progress: called with (files done, files total) as files are checked; an exception it
            raises stops the scan within the few files being decoded at that moment.

    Returns:
        The manifest: classes, usable samples, skipped files with reasons, warnings.

    Raises:
        DataError: the dataset cannot be trained on; the message says why.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"The validation fraction must be between 0 and 1, not {val_fraction}.")
    root, skipped = _materialize(Path(source).expanduser(), extract_dir)
    root, split_dirs = _resolve_layout(root.resolve())
    classes, found = _find_files(root, split_dirs, skipped)
    _refuse_look_alike_classes(classes, skipped)
    if len(classes) < 2:
        images_at_top = sum(1 for _, rel, cls, _ in found if cls is None)
        raise DataError(_too_few_classes(classes, root, images_at_top), skipped)
    label_of = {name: index for index, name in enumerate(classes)}
    decoded, small_images = decode_files(found, root, cache=cache, image_size=image_size, skipped=skipped,
                                         on_progress=on_progress)
    samples = [Sample(str(path), label_of[class_name], split, key) for path, class_name, split, key in decoded]
    _refuse_unusable_classes(classes, samples, skipped, split_dirs)
    warnings = []
    if split_dirs is None or "val" not in split_dirs:
        _draw_validation(samples, classes, val_fraction, seed)
        if split_dirs is not None:
            warnings.append(f"No val/ folder was found, so {val_fraction:.0%} of each class in "
                            "train/ was set aside for validation.")
    warnings += _dataset_warnings(classes, samples, root, split_dirs, small_images, image_size)
    return Manifest(str(root), classes, samples, skipped, warnings,
                    split_given=split_dirs is not None and "val" in split_dirs,
                    image_size=image_size)


def scan_target(source: str | os.PathLike, *, classes: list[str], cache: ImageCache, image_size: int,
                extract_dir: Path | None = None, on_progress: Callable[[int, int], None] | None = None) -> TargetSet:
    """Check the pictures from where a model will be used: labelled (class folders) or not (loose files).

    Every readable picture is kept. One in a folder named like a training class carries that class's
    label, for target accuracy only; one in a folder the training classes lack, or loose at the top,
    carries none. A split the folder may have (train/, val/) is ignored: all of it is the target.

    Args:
        source: a folder or .zip.
        classes: the training dataset's classes, in label order.

    Raises:
        DataError: nothing in it can be read as a picture.
    """
    root, skipped = _materialize(Path(source).expanduser(), extract_dir)
    root, split_dirs = _resolve_layout(root.resolve())
    _, found = _find_files(root, split_dirs, skipped)
    decoded, _ = decode_files(found, root, cache=cache, image_size=image_size, skipped=skipped,
                              on_progress=on_progress, needs_class=False)
    if not decoded:
        raise DataError(f"The target '{Path(source).name}' has no pictures the studio can read.", skipped)
    label_of = {name: index for index, name in enumerate(classes)}
    # In content order, not path order: the folders are the labels, and training must not see them.
    samples = sorted((Sample(str(path), label_of.get(class_name, -1), "target", key)
                      for path, class_name, _, key in decoded), key=lambda s: (s.key, s.path))
    unknown = sorted({class_name for _, class_name, _, _ in decoded if class_name and class_name not in label_of})
    return TargetSet(str(root), samples, skipped, unknown, image_size)


def for_run(manifest: Manifest, *, image_size: int, val_fraction: float, seed: int) -> Manifest:
    """The checked manifest as one run trains on it: its image size, and its own validation draw
    (the folder's own val/ when it has one). The files, classes and problems stay as checked."""
    samples = [Sample(s.path, s.label, s.split, s.key) for s in manifest.samples]
    if not manifest.split_given:
        for sample in samples:
            if sample.split == "val":
                sample.split = "train"
        _draw_validation(samples, manifest.classes, val_fraction, seed)
    return Manifest(manifest.root, list(manifest.classes), samples, list(manifest.skipped),
                    list(manifest.warnings), manifest.split_given, image_size)


def _materialize(source: Path, extract_dir: Path | None) -> tuple[Path, list[Skipped]]:
    """The folder to scan: the source itself, or where its zip was (or already is) extracted."""
    if source.is_dir():
        return source, []
    if not source.exists():
        raise DataError(f"The dataset source '{source}' does not exist.")
    if not (source.is_file() and (source.suffix.lower() == ".zip" or zipfile.is_zipfile(source))):
        raise DataError(f"'{source.name}' is neither a folder nor a .zip file.")
    zip_key = content_key(source)
    dest = Path(extract_dir) if extract_dir else paths.data_dir() / f"{source.stem}-{zip_key[:8]}"
    marker = dest / _EXTRACTED_MARKER
    done = read_json(marker, default={}) if marker.is_file() else {}
    if isinstance(done, dict) and done.get("zip_key") == zip_key:  # the same zip was extracted before: reuse it
        return dest, [Skipped(**s) for s in done.get("skipped", [])]
    if dest.exists() and (extract_dir is None or marker.is_file()):
        shutil.rmtree(dest)  # ours: an interrupted extraction, or another zip's files
    skipped = extract_zip(source, dest)
    write_json_atomic(marker, {"zip_key": zip_key, "skipped": [asdict(s) for s in skipped]})
    return dest, skipped


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not is_junk(p.name))


def _resolve_layout(root: Path) -> tuple[Path, dict[str, Path] | None]:
    """Unwrap lone wrapper folders, then detect a given train/val(/test) split."""
    for _ in range(8):
        children = _visible(root)
        if len(children) == 1 and children[0].is_dir() and any(
                p.is_dir() for p in _visible(children[0])):
            root = children[0]
        else:
            break
    split_dirs: dict[str, Path] = {}
    for child in _visible(root):
        split = SPLIT_ALIASES.get(child.name.lower())
        if child.is_dir() and split and split not in split_dirs:
            split_dirs[split] = child
    is_split = "train" in split_dirs and len(split_dirs) >= 2
    return root, (split_dirs if is_split else None)


def _find_files(root: Path, split_dirs: dict[str, Path] | None, skipped: list[Skipped]):
    """Class names and every candidate file as (path, relative path, class or None, split).

    Hidden entries and folders that cannot be read are listed in ``skipped`` with the reason.
    """
    tops = {"train": root} if split_dirs is None else split_dirs
    if split_dirs is not None:
        for extra in (p for p in _visible(root) if p not in split_dirs.values()):
            skipped.append(Skipped(extra.name, "not inside train/, val/ or test/; not used"))

    def left_out(path: Path) -> bool:
        reason = why_left_out(path.name)
        if reason is not None:
            skipped.append(Skipped(_relative(path, root), reason))
        return is_junk(path.name)

    def unreadable(error: OSError) -> None:
        where = _relative(Path(error.filename), root) if error.filename else "a folder"
        skipped.append(Skipped(where, f"the folder could not be read ({error.strerror or error}); "
                                      "its pictures were not used"))

    classes: set[str] = set()
    found = []
    for split, top in tops.items():
        classes.update(p.name for p in _visible(top) if p.is_dir())
        for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
            dirnames[:] = [d for d in dirnames if not left_out(Path(dirpath) / d)]
            for name in filenames:
                path = Path(dirpath) / name
                if not left_out(path):
                    parts = path.relative_to(top).parts
                    found.append((path, path.relative_to(root).as_posix(),
                                  parts[0] if len(parts) > 1 else None, split))
    found.sort(key=lambda item: item[1])  # a stable order makes the drawn split reproducible
    return sorted(classes), found


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _refuse_look_alike_classes(classes: list[str], skipped: list[Skipped]) -> None:
    """Refuse class folders whose names differ only by capitals or surrounding spaces ('Cat', 'cat ').

    They would silently become two classes that a person meant as one, and a model cannot learn to
    tell them apart.
    """
    by_spelling: dict[str, list[str]] = defaultdict(list)
    for name in classes:
        by_spelling[unicodedata.normalize("NFC", name).strip().casefold()].append(name)
    alike = [names for names in by_spelling.values() if len(names) > 1]
    if alike:
        shown = " and ".join(f"'{name}'" for name in alike[0])
        more = f" ({len(alike) - 1} more such group(s))" if len(alike) > 1 else ""
        raise DataError(f"The class folders {shown} differ only by capital letters or spaces, so they "
                        f"would become separate classes{more}. Rename them, or move their pictures "
                        "into one folder.", skipped)


def _too_few_classes(classes: list[str], root: Path, images_at_top: int) -> str:
    if classes:
        return f"Found only 1 class ('{classes[0]}'); at least 2 class folders are needed."
    hint = f" The {images_at_top} files at the top level" if images_at_top else " The images"
    return (f"Found no class folders in '{root.name}'.{hint} need to be in one sub-folder per "
            "class, e.g. cats/ and dogs/.")


def _refuse_unusable_classes(classes, samples, skipped, split_dirs) -> None:
    distinct = defaultdict(set)  # identical copies of an image teach nothing new
    in_train = set()
    for sample in samples:
        distinct[sample.label].add(sample.key)
        if sample.split == "train":
            in_train.add(sample.label)
    short = [(name, len(distinct[label])) for label, name in enumerate(classes)
             if len(distinct[label]) < MIN_IMAGES_PER_CLASS]
    if short:
        name, count = short[0]
        others = f" (also too few: {_quote_list(n for n, _ in short[1:])})" if short[1:] else ""
        depth = 1 if split_dirs else 0  # the class folder's position in a relative path
        class_skips = [s for s in skipped if s.path.split("/")[depth:depth + 1] == [name]]
        hint = (f" {len(class_skips)} of its files were skipped, e.g. '{class_skips[0].path}': "
                f"{class_skips[0].reason}." if class_skips else "")
        plural = "s" * (count != 1)
        raise DataError(f"Class '{name}' has only {count} usable image{plural}; every class needs "
                        f"at least {MIN_IMAGES_PER_CLASS}{others}.{hint}", skipped)
    if split_dirs is not None:
        missing = [name for label, name in enumerate(classes) if label not in in_train]
        if missing:
            raise DataError(f"Class '{missing[0]}' has no images in train/; every class needs "
                            "training images.", skipped)


def _draw_validation(samples: list[Sample], classes: list[str], val_fraction: float,
                     seed: int) -> None:
    """Move a stratified, seeded share of each class's train samples to "val", in place.

    Identical copies move together, so a duplicate can never sit on both sides of the split.
    Each class gets its own generator, so adding images to one class leaves the others' split.
    """
    groups: dict[int, dict[str, list[Sample]]] = defaultdict(dict)
    for sample in samples:
        if sample.split == "train":
            groups[sample.label].setdefault(sample.key, []).append(sample)
    for label, by_key in groups.items():
        keys = list(by_key)  # first-seen order, which follows the sorted file paths
        random.Random(f"{seed}:{classes[label]}").shuffle(keys)
        n_val = min(max(1, round(len(keys) * val_fraction)), len(keys) - 1)
        for key in keys[:n_val]:
            for sample in by_key[key]:
                sample.split = "val"


def _dataset_warnings(classes, samples, root, split_dirs, small_images, image_size) -> list[str]:
    warnings = []
    by_key = defaultdict(list)
    for sample in samples:
        by_key[sample.key].append(sample)

    def same_files(groups) -> str:
        return _quote_list(" = ".join(Path(s.path).relative_to(root).as_posix() for s in group)
                           for group in groups)

    cross_class = [group for group in by_key.values() if len({s.label for s in group}) > 1]
    if cross_class:
        examples = same_files(cross_class)
        warnings.append(f"{len(cross_class)} image(s) appear in more than one class (identical "
                        f"files): {examples}. A model cannot learn two labels for one image.")
    leaks = [group for group in by_key.values()
             if len({s.split for s in group}) > 1 and any(s.split == "train" for s in group)]
    if leaks:
        examples = same_files(leaks)
        warnings.append(f"{len(leaks)} image(s) are in train and also in val or test (identical "
                        f"files): {examples}. Validation accuracy will look better than it is.")
    per_label = Counter(s.label for s in samples)
    counts = [per_label[label] for label in range(len(classes))]
    if split_dirs and "val" in split_dirs:
        in_val = {s.label for s in samples if s.split == "val"}
        no_val = [name for label, name in enumerate(classes) if label not in in_val]
        if no_val:
            warnings.append(f"No validation images for {_quote_list(no_val)}, so accuracy on "
                            "those classes cannot be measured.")
    if max(counts) > IMBALANCE_RATIO * min(counts):
        big, small = counts.index(max(counts)), counts.index(min(counts))
        warnings.append(f"Classes are imbalanced: '{classes[big]}' has {counts[big]} images and "
                        f"'{classes[small]}' only {counts[small]}; training will draw every class equally often "
                        "(class balancing, in More settings on the Train page), and accuracy alone can mislead.")
    few = [f"'{n}' ({c})" for n, c in zip(classes, counts, strict=True) if c < FEW_IMAGES]
    if few:
        warnings.append(f"Classes with fewer than {FEW_IMAGES} images: {', '.join(few)}; results "
                        "on so few examples vary a lot.")
    if small_images:
        warnings.append(f"{small_images} image(s) are smaller than {SMALL_IMAGE_SIDE} px on their "
                        f"shorter side and were enlarged to {image_size} px; they may train "
                        "poorly.")
    return warnings


def _quote_list(items, cap: int = 5) -> str:
    items = list(items)
    shown = ", ".join(f"'{item}'" for item in items[:cap])
    return shown + (f" and {len(items) - cap} more" if len(items) > cap else "")

"""Scan an image folder or zip into a validated, split dataset manifest.

Every image is decoded once here (through the image cache, tlcore.data.decoding), so problems
surface on the data page instead of in the middle of training.
"""
from __future__ import annotations

import os
import random
import shutil
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from tlcore import paths
from tlcore.config import DEFAULT_IMAGE_SIZE
from tlcore.data.archive import extract_zip
from tlcore.data.decoding import SMALL_IMAGE_SIDE, decode_files
from tlcore.data.imagecache import ImageCache, content_key
from tlcore.data.names import comparable, shown
from tlcore.data.folder_walk import FolderLinks, find_files, nested_folders, resolve_layout
from tlcore.data.manifest import DataError, Manifest, Sample, Skipped, TargetSet
from tlcore.jsonio import read_json, write_json_atomic

MIN_IMAGES_PER_CLASS = 2
FEW_IMAGES = 10
IMBALANCE_RATIO = 2.0  # beyond it the check says so, and training balances (tlcore.data.batches.BALANCE_RATIO)
_EXTRACTED_MARKER = ".tlstudio-extracted.json"  # hidden, so scanning ignores it


def scan(source: str | os.PathLike, *, cache: ImageCache, image_size: int = DEFAULT_IMAGE_SIZE,
         val_fraction: float = 0.2, seed: int = 0, extract_dir: Path | None = None,
         on_progress: Callable[[int, int], None] | None = None,
         link_roots: Sequence[Path] | None = None) -> Manifest:
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
        link_roots: links to folders are followed where they lead inside the dataset or these folders
            (the folders a page may open; default: tlcore.paths.allowed_roots()).

    Returns:
        The manifest: classes, usable samples, skipped files with reasons, warnings.

    Raises:
        DataError: the dataset cannot be trained on; the message says why.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"The validation fraction must be between 0 and 1, not {val_fraction}.")
    root, skipped = _materialize(Path(source).expanduser(), extract_dir)
    links = FolderLinks(root.resolve(), link_roots, skipped)
    root, split_dirs = resolve_layout(root.resolve(), links)
    classes, found = find_files(root, split_dirs, skipped, links)
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
    warnings += _nested_folder_warning(nested_folders(found, split_dirs is not None))
    return Manifest(str(root), classes, samples, skipped, warnings,
                    split_given=split_dirs is not None and "val" in split_dirs,
                    image_size=image_size)


def scan_target(source: str | os.PathLike, *, classes: list[str], cache: ImageCache, image_size: int,
                extract_dir: Path | None = None, on_progress: Callable[[int, int], None] | None = None,
                link_roots: Sequence[Path] | None = None) -> TargetSet:
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
    links = FolderLinks(root.resolve(), link_roots, skipped)
    root, split_dirs = resolve_layout(root.resolve(), links)
    _, found = find_files(root, split_dirs, skipped, links)
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
    ours = extract_dir is None or marker.is_file() or not dest.exists()
    if dest.exists() and ours:
        shutil.rmtree(dest)  # ours: an interrupted extraction, or another zip's files
    skipped = extract_zip(source, dest)
    try:
        write_json_atomic(marker, {"zip_key": zip_key, "skipped": [asdict(s) for s in skipped]})
    except BaseException:  # out of space or inodes at the last step: no extracted files are left behind
        if ours:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest, skipped


def _refuse_look_alike_classes(classes: list[str], skipped: list[Skipped]) -> None:
    """Refuse class folders that name no class, or whose names people would take for one.

    'Cat', 'cat ', 'cat.' and 'cat' with an invisible character would silently become classes that
    print alike and that a person meant as one; a folder called '...' or '   ' names nothing.
    """
    blank = [name for name in classes if not comparable(name)]
    if blank:
        raise DataError(f"The class folder{'s' * (len(blank) > 1)} {_quote_list(blank)} "
                        f"{'have' if len(blank) > 1 else 'has'} no letters or digits once dots, spaces and "
                        "invisible characters are set aside, so a class cannot be named after "
                        f"{'them' if len(blank) > 1 else 'it'}. Rename the folder, or move its pictures "
                        "into a class folder.", skipped)
    by_spelling: dict[str, list[str]] = defaultdict(list)
    for name in classes:
        by_spelling[comparable(name)].append(name)
    alike = [names for names in by_spelling.values() if len(names) > 1]
    if alike:
        groups = "; ".join(" and ".join(shown(name) for name in names) for names in alike)
        raise DataError(f"These class folders differ only by capital letters, spaces, trailing dots or "
                        f"invisible characters, so they would become classes that look the same: {groups}. "
                        "Rename them, or move their pictures into one folder.", skipped)


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
        # A zip's entries keep the folders around the dataset, so the class is any folder of the path.
        class_skips = [s for s in skipped if name in s.path.split("/")]
        in_all = f" (of {len(skipped)} skipped in all, listed below)" if len(skipped) > len(class_skips) else ""
        hint = (f" {len(class_skips)} of its files were skipped{in_all}, e.g. '{class_skips[0].path}': "
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
    from tlcore.data.samples import is_built_in

    # A built-in set's small pictures are the studio's own choice, and it trains well on them.
    if small_images and not is_built_in(root):
        warnings.append(f"{small_images} image(s) are smaller than {SMALL_IMAGE_SIDE} px on their "
                        f"shorter side and were enlarged to {image_size} px; they may train "
                        "poorly.")
    return warnings


def _nested_folder_warning(nested) -> list[str]:
    """Pictures in a folder inside a class folder belong to that class: right for 'cats/indoor', a
    surprise for a class someone meant to keep apart, so the report says so."""
    if not nested:
        return []
    listed = [f"'{folder}' ({count} file{'s' * (count != 1)})" for folder, count in nested.most_common(5)]
    more = f" and {len(nested) - 5} more folders" if len(nested) > 5 else ""
    return [f"Pictures in folders inside class folders were counted in their class: {', '.join(listed)}{more}. "
            "If they are a class of their own, move their folder up beside the other classes."]


def _quote_list(items, cap: int = 5) -> str:
    """Names or paths in quotes, as a person should read them (tlcore.data.names.shown), the first few."""
    items = list(items)
    listed = ", ".join(shown(item) for item in items[:cap])
    return listed + (f" and {len(items) - cap} more" if len(items) > cap else "")

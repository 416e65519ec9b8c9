"""Finding a dataset's files: its layout (a given split or not), its class folders and every file in them.

Links to folders are followed where they stay inside the dataset or the folders the studio may open,
and never round a loop; what is not followed, not readable or hidden is listed with the reason.
"""
from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tlcore import paths
from tlcore.data.manifest import Skipped, is_junk, why_left_out

SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "test": "test", "testing": "test"}


def visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not is_junk(p.name))


def resolve_layout(root: Path, links: FolderLinks) -> tuple[Path, dict[str, Path] | None]:
    """Unwrap lone wrapper folders, then detect a given train/val(/test) split; a wrapper or a split
    folder that is a link is entered only where links may be followed."""
    for _ in range(8):
        children = visible(root)
        if len(children) == 1 and children[0].is_dir() and any(
                p.is_dir() for p in visible(children[0])) and links.followed(children[0], root):
            root = children[0]
        else:
            break
    links.names_from(root)
    split_dirs: dict[str, Path] = {}
    for child in visible(root):
        split = SPLIT_ALIASES.get(child.name.lower())
        if child.is_dir() and split and split not in split_dirs and links.followed(child, root):
            split_dirs[split] = child
    is_split = "train" in split_dirs and len(split_dirs) >= 2
    return root, (split_dirs if is_split else None)


def find_files(root: Path, split_dirs: dict[str, Path] | None, skipped: list[Skipped], links: FolderLinks):
    """Class names and every candidate file as (path, relative path, class or None, split).

    Hidden entries, folders that cannot be read and links that are not followed are listed in
    ``skipped`` with the reason.
    """
    tops = {"train": root} if split_dirs is None else split_dirs
    if split_dirs is not None:
        for extra in (p for p in visible(root) if p not in split_dirs.values()):
            skipped.append(Skipped(extra.name, "not inside train/, val/ or test/; not used"))

    def left_out(path: Path) -> bool:
        reason = why_left_out(path.name)
        if reason is not None:
            skipped.append(Skipped(relative(path, root), reason))
        return is_junk(path.name)

    def unreadable(error: OSError) -> None:
        where = relative(Path(error.filename), root) if error.filename else "a folder"
        skipped.append(Skipped(where, f"the folder could not be read ({error.strerror or error}); "
                                      "its pictures were not used"))

    classes: set[str] = set()
    found = []
    for split, top in tops.items():
        classes.update(p.name for p in visible(top) if p.is_dir() and links.followed(p, top))
        for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable, followlinks=True):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not left_out(here / d) and links.followed(here / d, top)]
            for name in filenames:
                path = here / name
                if not left_out(path):
                    parts = path.relative_to(top).parts
                    found.append((path, path.relative_to(root).as_posix(),
                                  parts[0] if len(parts) > 1 else None, split))
    found.sort(key=lambda item: item[1])  # a stable order makes the drawn split reproducible
    return sorted(classes), found


def nested_folders(found, split_given: bool) -> Counter:
    """Files per folder inside a class folder ('cats/indoor'): they count as their class's pictures."""
    depth = 1 + int(split_given)  # a class folder's place in a relative path, then one more
    return Counter("/".join(rel.split("/")[:depth + 1]) for _, rel, class_name, _ in found
                   if class_name is not None and rel.count("/") > depth)


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


class FolderLinks:
    """Which links to folders a scan follows: those that stay inside the dataset folder or the folders
    the studio may open, and never one to a folder the walk came through on its way there (the walk
    would go round for ever).

    Args:
        dataset: the folder as given (the one a page checked against the folders it may open), before
            any wrapper folder inside it is unwrapped.
        link_roots: the folders the studio may open (default: tlcore.paths.allowed_roots()).
    """

    def __init__(self, dataset: Path, link_roots: Sequence[Path] | None, skipped: list[Skipped]):
        self._root, self._skipped, self._seen = dataset, skipped, {}
        self._dataset, self._link_roots = dataset, link_roots

    @functools.cached_property
    def _roots(self) -> list[Path]:  # worked out at the first link met: most datasets have none
        link_roots = paths.allowed_roots() if self._link_roots is None else self._link_roots
        return [Path(os.path.realpath(r)) for r in (self._dataset, *link_roots)]

    def names_from(self, root: Path) -> None:
        """Name the links not followed relative to this folder (the dataset once unwrapped)."""
        self._root = root

    def followed(self, path: Path, top: Path) -> bool:
        if not path.is_symlink():
            return True
        if path in self._seen:  # asked once for the class list, once by the walk
            return self._seen[path]
        target = Path(os.path.realpath(path))
        reason = None
        if not any(target == r or target.is_relative_to(r) for r in self._roots):
            reason = (f"a link to a folder outside the folders the studio may open; not followed (they can be "
                      f"set with {paths.ALLOWED_ROOTS_ENV})")
        elif any(folder.is_relative_to(target) for folder in _real_folders_between(top, path.parent)):
            reason = "a link to a folder it is inside of; not followed (it would never end)"
        if reason is not None:
            self._skipped.append(Skipped(relative(path, self._root), reason))
        self._seen[path] = reason is None
        return reason is None


def _real_folders_between(top: Path, folder: Path) -> list[Path]:
    """Where each folder from top down to folder really is, links resolved."""
    steps = folder.relative_to(top).parts
    return [Path(os.path.realpath(top.joinpath(*steps[:depth]))) for depth in range(len(steps) + 1)]

"""Pictures into the image cache and back out as arrays: the parallel decoding behind a scan, and
the uint8 arrays a run trains on.
"""
from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np

from tlcore.cpus import usable_cpu_count
from tlcore.data.archive import is_inside
from tlcore.data.picture_file import ImageProblem
from tlcore.data.imagecache import ImageCache, content_key
from tlcore.data.manifest import Manifest, PicturesChanged, Sample, Skipped
from tlcore.data.stored_pictures import StoredPictures
from tlcore.diskspace import MARGIN_BYTES, free_bytes, require_free_space

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".apng", ".bmp", ".gif", ".webp",
                              ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".pfm",
                              ".heic", ".heif", ".hif", ".avif", ".avifs", ".mpo"})
"""The name endings of the formats in picture_file.READABLE_FORMATS (.hif: a camera's HEIF, .mpo: a camera's
JPEG with a second frame, .pfm: PPM's floating-point kind, .apng and .avifs: animations, of which the first
frame is read, as of a GIF). A file named otherwise is not opened at all."""

_SAVE_AS = "save it as PNG or JPEG"
_NOT_READ = (
    # (what people call them, what to do instead, their names' endings)
    ("Photoshop files", _SAVE_AS, (".psd", ".psb")),
    ("GIMP files", _SAVE_AS, (".xcf",)),
    ("Camera raw files", "export it as JPEG or PNG from a photo program",
     (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf",
      ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".mrw", ".iiq", ".rwl", ".raw")),
    ("Vector drawings", _SAVE_AS, (".svg", ".svgz", ".eps", ".ps", ".ai", ".wmf", ".emf")),
    ("PDF documents", "save the picture in it as PNG or JPEG", (".pdf",)),
    ("JPEG 2000 pictures", _SAVE_AS, (".jp2", ".j2k", ".j2c", ".jpc", ".jpf", ".jpx", ".jpm")),
    ("JPEG XL pictures", _SAVE_AS, (".jxl",)),
    ("Icons", _SAVE_AS, (".ico", ".cur", ".icns")),
    ("Targa pictures", _SAVE_AS, (".tga", ".icb", ".vda", ".vst")),
    ("Game textures", _SAVE_AS, (".dds", ".blp", ".ftc", ".ftu")),
    ("HDR pictures", _SAVE_AS, (".exr", ".hdr")),
    ("Animations", "save the picture you want as PNG or JPEG", (".heics", ".fli", ".flc")),
    ("Pictures in this format", _SAVE_AS, (".pcx", ".dcx", ".sgi", ".rgb", ".rgba", ".bw", ".qoi", ".xpm",
                                          ".xbm", ".fits", ".pcd", ".fpx", ".ras", ".im1", ".msp",
                                          ".dib", ".im", ".pxr", ".spi", ".spider", ".gbr", ".mic", ".wal")),
    ("Videos", "save still frames as PNG or JPEG", (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".3gp",
                                                    ".mpg", ".mpeg", ".wmv")),
)
"""Picture formats (and videos) the studio does not read, named: calling a Photoshop file or a camera's
raw photo "not an image" is untrue and gives no hint of what to do. The Live Photo beside an iPhone's
HEIC is a .mov."""
_NOT_READ_BY_ENDING = {ending: (words, advice) for words, advice, endings in _NOT_READ for ending in endings}
SMALL_IMAGE_SIDE = 32


def decode_files(found, root: Path, *, cache: ImageCache, image_size: int, skipped: list[Skipped],
                 on_progress: Callable[[int, int], None] | None = None,
                 needs_class: bool = True) -> tuple[list[tuple], int]:
    """Decode candidate files into the cache, in parallel, setting aside the unusable ones with the reason.

    Args:
        found: (path, relative path, class name or None, split) per file, as tlcore.data.scan lists them.
        skipped: where unusable files go, with the reason.
        on_progress: called with (files done, files total); an exception it raises stops the work
            within the few files being decoded at that moment.
        needs_class: a file outside any class folder is unusable (False for unlabelled pictures).

    Returns:
        ((path, class name, split, content key) per usable file in the order found, how many of them
        are smaller than SMALL_IMAGE_SIDE).
    """
    decoded = []
    small_images = 0
    # Pillow releases the GIL while it decodes and resizes, so threads use every core.
    workers = usable_cpu_count()
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        known_keys = _require_cache_space(found, root, cache, image_size, pool, needs_class)
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise

    def check(item) -> tuple[str | None, str | None]:
        """(reason the file is unusable, or None; its content key once decoded into the cache)."""
        path, _, class_name, _ = item
        reason = _unusable(path, root, class_name, needs_class)
        if reason is not None:
            return reason, None
        try:
            return None, cache.ensure(path, image_size, key=known_keys.get(path))
        except ImageProblem as problem:
            return problem.reason, None

    try:
        checked = zip(found, _ordered_map(pool, check, found, ahead=4 * workers))
        for done, ((path, rel, class_name, split), (reason, key)) in enumerate(checked, 1):
            if reason is not None:
                skipped.append(Skipped(rel, reason))
            else:
                decoded.append((path, class_name, split, key))
                size = cache.original_size(key)
                small_images += bool(size and min(size) < SMALL_IMAGE_SIDE)
            if on_progress is not None:
                on_progress(done, len(found))  # may raise (a cancel): the files not yet begun are dropped
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return decoded, small_images


def _ordered_map(pool: ThreadPoolExecutor, function, items, ahead: int):
    """Like pool.map (results in order), but with at most ``ahead`` calls submitted beyond the results
    taken: a scan stopped after a few files leaves the rest unstarted, however threads are scheduled."""
    items = iter(items)
    pending = deque(pool.submit(function, item) for item in islice(items, ahead))
    while pending:
        result = pending.popleft().result()
        for item in islice(items, 1):
            pending.append(pool.submit(function, item))
        yield result


def _require_cache_space(found, root: Path, cache: ImageCache, image_size: int, pool,
                         needs_class: bool = True) -> dict[Path, str]:
    """Refuse, before decoding anything, a scan whose new arrays the disk cannot hold.

    Every file counting as new is the bound, and a disk with room for it is the usual case. Only
    on a nearly full disk are the files hashed first, so that pictures already in the cache do
    not count; their keys are returned to save hashing them again.
    """
    per_image = image_size * image_size * 3 + 4096  # the array, its header, its size note
    if free_bytes(cache.root) >= len(found) * per_image + MARGIN_BYTES:
        return {}
    candidates = [path for path, _, class_name, _ in found if _unusable(path, root, class_name, needs_class) is None]

    def key_or_none(path: Path) -> str | None:
        try:
            return content_key(path)
        except (ImageProblem, OSError):
            return None  # the scan reports it
    keys = dict(zip(candidates, pool.map(key_or_none, candidates)))
    new = {key for key in keys.values() if key and not cache.has(key, image_size)}
    require_free_space(cache.root, len(new) * per_image, f"the {len(new):,} decoded pictures")
    return {path: key for path, key in keys.items() if key}


def load_split_arrays(manifest: Manifest, cache: ImageCache,
                      split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split's images and labels from the cache, decoding any that went missing.

    Args:
        manifest: the scanned dataset.
        cache: the cache it was scanned into.
        split: "train", "val" or "test".

    Returns:
        (uint8 [N, S, S, 3] images, int64 [N] labels).
    """
    return load_sample_arrays(manifest.split(split), cache, manifest.image_size)


def load_sample_arrays(samples: list[Sample], cache: ImageCache, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of samples from the cache, decoding any that went missing (a cleared cache,
    another image size than the one they were checked at)."""
    ensure_cached(samples, cache, image_size)
    images = cache.load_stack([s.key for s in samples], image_size)
    labels = np.fromiter((s.label for s in samples), dtype=np.int64, count=len(samples))
    return images, labels


def ensure_cached(samples: list[Sample], cache: ImageCache, image_size: int) -> None:
    """Decode into the cache any sample missing from it (a cleared cache, another image size than the
    one it was checked at).

    Raises:
        PicturesChanged: files deleted, damaged or rewritten since the dataset was checked, every one named.
    """
    changed = []
    for sample in samples:
        if not cache.has(sample.key, image_size):
            try:  # the file's content is keyed afresh: a picture rewritten since the check is not the one checked
                if cache.ensure(sample.path, image_size) != sample.key:
                    changed.append((sample.path, "its content changed"))
            except ImageProblem as problem:
                changed.append((sample.path, problem.reason))
    if changed:
        raise PicturesChanged(changed)



def _unusable(path: Path, root: Path, class_name: str | None, needs_class: bool = True) -> str | None:
    """Why a file is not even decoded, or None if it is a candidate image."""
    if class_name is None and needs_class:
        return "not inside a class folder"
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return describe_not_read(path.suffix)
    if path.is_symlink() and not is_inside(path, root):
        return "a link to a file outside the dataset folder"
    return None


def describe_not_read(suffix: str) -> str:
    """Why a file with this name ending is not read: its format named when it is a known picture format."""
    if suffix.lower() in _NOT_READ_BY_ENDING:
        words, advice = _NOT_READ_BY_ENDING[suffix.lower()]
        return f"{words} ({suffix}) are not read; {advice}"
    return f"not an image file ({suffix or 'no extension'})"


class SamplePictures:
    """Some samples' pictures, read from the image cache batch by batch as a run asks for them
    (tlcore.data.stored_pictures): a run whose features are all cached already (an experiment's other
    sizes and seeds) never reads them. Their labels are known at once."""

    def __init__(self, samples: list[Sample], cache: ImageCache, image_size: int):
        self._samples, self._cache, self._image_size = samples, cache, image_size
        self.labels = np.fromiter((s.label for s in samples), dtype=np.int64, count=len(samples))

    def __len__(self) -> int:
        return len(self._samples)

    @functools.cached_property
    def array(self) -> StoredPictures:
        """uint8 [N, S, S, 3], array-like; any picture missing from the cache (a cleared cache, another
        image size than the one it was checked at) is decoded into it first."""
        ensure_cached(self._samples, self._cache, self._image_size)
        return StoredPictures([s.key for s in self._samples], self._cache, self._image_size)

"""Generate small image datasets and awkward image files with Pillow, for tests.

Every image is different (seeded noise and jitter), and each class has its own colour and shape,
so a classifier can tell classes apart from a few examples.
"""
from __future__ import annotations

import io
import random
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Far apart in colour so the classes stay distinguishable even after heavy downscaling.
CLASS_COLOURS = [(220, 40, 40), (40, 90, 220), (40, 180, 60), (230, 200, 30), (150, 50, 200),
                 (30, 200, 200), (240, 120, 20), (120, 120, 120)]
SHAPES = ["ellipse", "rectangle", "triangle", "cross"]


def make_image(class_index: int, seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """One RGB image: a class-coloured shape on a noisy background, jittered by ``seed``.

    Args:
        class_index: picks the colour and shape.
        seed: makes this image differ from every other of its class.
        size: (width, height).

    Returns:
        An RGB PIL image.
    """
    rng = np.random.default_rng([class_index, seed])
    width, height = size
    background = rng.integers(0, 70, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in np.clip(np.array(CLASS_COLOURS[class_index % len(CLASS_COLOURS)])
                                           + rng.integers(-20, 21, 3), 0, 255))
    half = max(2, int(min(width, height) * rng.uniform(0.25, 0.4)))
    cx = int(rng.integers(half, max(half + 1, width - half)))
    cy = int(rng.integers(half, max(half + 1, height - half)))
    box = (cx - half, cy - half, cx + half, cy + half)
    shape = SHAPES[class_index % len(SHAPES)]
    if shape == "ellipse":
        draw.ellipse(box, fill=colour)
    elif shape == "rectangle":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=colour)
    else:
        draw.rectangle((cx - half, cy - half // 3, cx + half, cy + half // 3), fill=colour)
        draw.rectangle((cx - half // 3, cy - half, cx + half // 3, cy + half), fill=colour)
    return image


def make_image_folder(root: str | Path, classes: dict[str, int] | None = None,
                      size: tuple[int, int] = (40, 32), split: dict | None = None,
                      fmt: str = "png", seed: int = 0) -> Path:
    """Write an image-folder dataset: ``root/<class>/...`` or ``root/<split>/<class>/...``.

    Args:
        root: the dataset folder (created).
        classes: class name -> image count (the count is unused when ``split`` gives counts).
        size: (width, height) of every image.
        split: None for one folder per class; else split name -> per-class count (an int for
            every class, or a dict class -> count), e.g. ``{"train": 4, "val": {"cats": 2}}``.
        fmt: "png" or "jpg".
        seed: varies the whole dataset.

    Returns:
        The root path.
    """
    root = Path(root)
    classes = classes if classes is not None else {"cats": 6, "dogs": 6}
    layout = {None: classes} if split is None else {
        name: ({c: counts for c in classes} if isinstance(counts, int) else counts)
        for name, counts in split.items()}
    names = sorted(classes)
    for split_name, counts in layout.items():
        for class_name, count in counts.items():
            folder = root / class_name if split_name is None else root / split_name / class_name
            folder.mkdir(parents=True, exist_ok=True)
            class_index = names.index(class_name) if class_name in names else len(names)
            for index in range(count):
                image_seed = hash_seed(seed, split_name or "", index)
                image = make_image(class_index, image_seed, size)
                save_image(image, folder / f"{class_name}_{split_name or 'all'}_{index:03d}.{fmt}")
    return root


def hash_seed(*parts) -> int:
    """A stable integer seed from strings and numbers (Python's hash() is salted per process)."""
    return random.Random("/".join(str(p) for p in parts)).getrandbits(32)


def save_image(image: Image.Image, path: str | Path, **params) -> Path:
    """Save with the format implied by the suffix (JPEG at high quality)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        params.setdefault("quality", 95)
    image.save(path, **params)
    return path


def image_bytes(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    """Encode an image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def write_truncated_jpeg(path: str | Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A JPEG cut off halfway through its data."""
    data = image_bytes(make_image(0, 1, size), "JPEG", quality=95)
    Path(path).write_bytes(data[: len(data) // 2])
    return Path(path)


def write_empty_file(path: str | Path) -> Path:
    """A zero-byte file."""
    Path(path).write_bytes(b"")
    return Path(path)


def write_text_as_image(path: str | Path) -> Path:
    """A text file with an image extension."""
    Path(path).write_text("this is not an image, just some notes\n" * 5)
    return Path(path)


def write_png_bomb(path: str | Path, size: tuple[int, int] = (9000, 9000)) -> Path:
    """A tiny PNG (1-bit, blank, compresses to a few KB) whose header claims huge dimensions."""
    Image.new("1", size, 0).save(path, optimize=True)
    return Path(path)


def write_png_header_only(path: str | Path, size: tuple[int, int]) -> Path:
    """A PNG whose header claims ``size`` but holds no pixel data: only opening it is safe."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size[0], size[1], 8, 2, 0, 0, 0)  # 8-bit RGB
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return Path(path)


def write_jpeg_with_orientation(path: str | Path, image: Image.Image, orientation: int) -> Path:
    """Save a JPEG whose EXIF says how to rotate it for display (orientation tag 0x0112)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return Path(path)


def write_animated_gif(path: str | Path, colours: list[tuple[int, int, int]],
                       size: tuple[int, int] = (20, 20)) -> Path:
    """An animated GIF with one solid-colour frame per entry of ``colours``."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return Path(path)


def zip_folder(folder: str | Path, zip_path: str | Path, prefix: str = "") -> Path:
    """Zip a folder's files, entry names relative to it (under ``prefix/`` when given)."""
    folder = Path(folder)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = file.relative_to(folder).as_posix()
            archive.write(file, f"{prefix}/{name}" if prefix else name)
    return Path(zip_path)


def write_zip_entries(zip_path: str | Path, entries: dict[str, bytes], *,
                      symlinks: dict[str, str] | None = None, mode: str = "w") -> Path:
    """Write raw entries (names taken literally, e.g. ``../evil.txt``) and symlink entries.

    Args:
        zip_path: the zip file.
        entries: entry name -> bytes.
        symlinks: entry name -> link target, stored with the unix symlink mode bits.
        mode: "w" to create, "a" to append.

    Returns:
        The zip path.
    """
    with zipfile.ZipFile(zip_path, mode, zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix, so the mode bits in external_attr are meaningful
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return Path(zip_path)

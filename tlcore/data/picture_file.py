"""One picture file, read safely: only regular files, only raster formats, upright, 8-bit RGB.

Every path a picture enters by (a scanned folder, an upload, a camera frame) decodes through here,
so a hostile or damaged file costs that file and nothing else. numpy, Pillow and pillow-heif only.
"""
from __future__ import annotations

import functools
import os
import re
import stat
import warnings

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

MAX_IMAGE_PIXELS = 80_000_000
"""Images with more pixels than this are refused: decoding them could exhaust memory."""

READABLE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM", "AVIF", "HEIF")
"""The raster formats the studio reads, as Pillow names them. Nothing else is ever tried: Pillow's
other plugins include EPS, whose loader hands the file to Ghostscript, an external program with a
long record of code-execution bugs, and a file's name says nothing about its content.

These are the formats phones, cameras, browsers and scanners save. MPO (a camera's JPEG with a second
frame) needs no entry: Pillow's JPEG opener recognises it, and the first frame is the photo. AVIF is
read by Pillow itself (its wheels carry libavif), HEIC/HEIF by pillow-heif (libheif); AVIF comes
first because both accept the generic "mif1" brand, and Pillow moves on to HEIF when a file is not
AVIF. Pillow reads more (ICO, TGA, JPEG 2000, ...) but no phone, camera or browser makes those
pictures, and each adds a decoder that untrusted bytes reach: JPEG 2000 goes through OpenJPEG, with
its own long record of memory-safety bugs. They are named and refused instead (tlcore.data.decoding).
"""
FORMAT_LIST = ("JPEG", "PNG", "HEIC", "AVIF", "WebP", "GIF", "BMP", "TIFF", "PPM", "MPO")
"""The formats read, as people know them, in the order most pictures come in (the Data page, messages)."""
FORMAT_NAMES = ", ".join(FORMAT_LIST[:-1]) + " or " + FORMAT_LIST[-1]

_WHITE = (255, 255, 255)


class ImageProblem(Exception):
    """An image file that cannot be used; ``reason`` is a short sentence for the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def require_regular_file(path: str | os.PathLike) -> None:
    """Refuse anything but a regular file (links to one are followed) before it is opened.

    Opening a named pipe blocks until someone writes to it, and a device can be read forever, so a
    FIFO called ``x.png`` would hang whatever reads it.

    Raises:
        ImageProblem: not a regular file, missing, or unreadable.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as error:
        raise ImageProblem("the file does not exist") from error
    except (OSError, ValueError) as error:  # ValueError: a NUL character in the name
        raise ImageProblem(f"the file could not be read ({getattr(error, 'strerror', None) or error})") from error
    if not stat.S_ISREG(mode):
        raise ImageProblem(f"not a regular file ({describe_file_type(mode)})")


def describe_file_type(mode: int) -> str:
    """A file type in words, for a special file where an image was expected."""
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device")):
        if test(mode):
            return words
    return "a special file"


def load_rgb(path: str | os.PathLike, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image fully into 8-bit RGB, upright, transparency composited onto white.

    Args:
        path: the image file, or a binary file object (an uploaded file).
        max_pixels: images with more pixels than this are refused.

    Returns:
        A loaded RGB image (first frame of an animation).

    Raises:
        ImageProblem: the file is empty, not an image, corrupt, or too large.
    """
    image, _ = decode(path, max_pixels=max_pixels, keep_side=None)
    return image


def resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (antialiased bilinear), then take the centre square.

    Matches torchvision's ``Compose([Resize(size), CenterCrop(size)])`` on PIL images, but
    resamples only the cropped region so a very elongated image never allocates its full
    resized form.

    Args:
        img: an RGB image.
        size: side of the square output in pixels.

    Returns:
        A uint8 array of shape [size, size, 3].
    """
    width, height = img.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)  # torchvision truncates the long side the same way
    new_w, new_h = (size, new_long) if width <= height else (new_long, size)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    if (new_w, new_h) == (width, height):  # torchvision skips resampling at the exact size
        out = img.crop((left, top, left + size, top + size))
    else:
        # The box in source coordinates that maps onto the crop: Pillow then samples exactly
        # the output pixels a full resize would have produced there.
        scale_x, scale_y = width / new_w, height / new_h
        box = (left * scale_x, top * scale_y, (left + size) * scale_x, (top + size) * scale_y)
        out = img.resize((size, size), Image.Resampling.BILINEAR, box=box)
    return np.asarray(out.convert("RGB"), dtype=np.uint8)


def decode(path, *, max_pixels: int,
            keep_side: int | None) -> tuple[Image.Image, tuple[int, int]]:
    """Open, check, decode and convert; returns the RGB image and its upright original size.

    ``keep_side`` lets a JPEG decode at 1/2, 1/4 or 1/8 scale while its shorter side stays at
    least that long; None decodes at full size.
    """
    _register_heif()  # outside the try: a missing pillow-heif is a broken install, not a damaged file
    try:
        if not hasattr(path, "read"):
            require_regular_file(path)
        if _byte_size(path) == 0:
            raise ImageProblem("empty file")
        # Pillow's own bomb guard warns at its global limit; ours is stricter and checked below,
        # so the warning would only be noise. Its hard error (twice its limit) is caught.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path, formats=READABLE_FORMATS)
        with opened as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageProblem(f"image is {width}x{height} pixels, over the "
                                   f"{max_pixels / 1e6:g} megapixel limit")
            if image.format != "HEIF":
                # The first frame of an animation or of an MPO. A HEIF file opens at its main picture,
                # the one a phone shows, which need not be its first (seeking away would also change
                # the size just checked).
                image.seek(0)
            if keep_side and image.format in ("JPEG", "MPO") and min(width, height) >= 2 * keep_side:
                scale = min(width, height) / keep_side
                image.draft("RGB", (int(width / scale), int(height / scale)))
            image.load()
            loaded_size = image.size
            upright = _apply_orientation(image)
            rgb = _to_rgb(upright)
            rgb.load()
    except ImageProblem:
        raise
    except Image.DecompressionBombError as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))  # Pillow names the pixel count
        size = f"has {int(claimed.group(1)) / 1e6:.0f} megapixels" if claimed else "is"
        limit = f"{max_pixels / 1e6:g} megapixel limit"
        raise ImageProblem(f"image {size}, over the {limit}") from error
    except UnidentifiedImageError as error:
        raise ImageProblem(f"not a picture in a format the studio reads ({FORMAT_NAMES})") from error
    except FileNotFoundError as error:
        raise ImageProblem("the file does not exist") from error
    except PermissionError as error:
        raise ImageProblem("the file could not be read (permission denied)") from error
    except MemoryError as error:
        raise ImageProblem("too large to decode in the memory available") from error
    except Exception as error:  # noqa: BLE001 - untrusted bytes: any decoder failure is this file's fault
        # Pillow's plugins signal damaged data with OSError, SyntaxError, ValueError, EOFError,
        # IndexError, TypeError, struct.error and more; whatever it is costs this file, never the scan.
        raise ImageProblem("truncated or corrupt image data") from error
    swapped = upright.size != loaded_size
    return rgb, ((height, width) if swapped else (width, height))


@functools.cache
def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF, once, at the first picture decoded (pages that never decode skip the import).

    Only the main picture is ever used, so the thumbnails, depth maps and other auxiliary pictures a
    phone stores beside it are left unparsed. libheif keeps its own limits on sizes and item counts;
    its rotation and mirroring boxes are applied as it decodes, and pillow-heif then sets the EXIF
    orientation to 1, so _apply_orientation never turns a HEIC picture twice.
    """
    from pillow_heif import register_heif_opener
    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def _byte_size(source) -> int:
    """Size of a path or of a seekable file object (an upload), leaving the object's position alone."""
    if hasattr(source, "seek"):
        position = source.tell()
        size = source.seek(0, os.SEEK_END)
        source.seek(position)
        return size
    return os.path.getsize(source)


def _apply_orientation(image: Image.Image) -> Image.Image:
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
            return image  # already upright: exif_transpose would only copy every pixel
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the image; keep it as stored
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(image), mode)).convert("RGB")
    try:
        if (mode == "P" and "transparency" in image.info) or mode in ("PA", "LA", "La", "RGBa"):
            image = image.convert("RGBA")
        if image.mode == "RGBA":
            # Transparent areas become white, as most viewers show them; black would invent
            # dark borders that a model might learn from.
            background = Image.new("RGBA", image.size, _WHITE + (255,))
            return Image.alpha_composite(background, image).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageProblem(f"colour mode {mode} cannot be converted to RGB") from error


def _high_depth_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit integer or float pixels into 0..255 without clipping to white."""
    values = values.astype(np.float64)
    if mode.startswith("I;16"):
        scaled = values / 257.0
    else:
        low, high = float(values.min()), float(values.max())
        if mode == "F" and low >= 0.0 and high <= 1.0:
            scaled = values * 255.0  # the usual convention for float images
        elif low >= 0.0 and high <= 255.0:
            scaled = values
        elif low >= 0.0 and high <= 65535.0:
            scaled = values / 257.0  # 16-bit data that Pillow opened as 32-bit "I"
        else:
            scaled = (values - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)

"""The generated pictures and special files: what class 1 feeds the scan, predict and the Data page.

Each entry of ``image_entries`` says where a file goes, what it is, and what the studio must say
about it, so the cases are data and one loop checks them all. The pictures come from the tests'
own generators (tests/imagegen.py); only the hostile headers are written by hand here.
"""
import os
import random
import socket
import stat
import struct
from pathlib import Path

from imagegen import (image_bytes, make_image, write_animated_gif, write_empty_file, write_png_bomb,
                      write_png_header_only, write_text_as_image)

USED = "used"  # the expectation for a file that must be decoded and kept


def picture(seed: int = 0, size=(48, 40)):
    return make_image(seed % 4, seed, size)


def gif_header_bomb() -> bytes:
    """A GIF whose logical screen is 65535 x 65535 (4.3 gigapixels) around a 1-pixel frame."""
    return (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b"\x2c"
            + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00\x3b")


def bmp_header_bomb(side: int = 50_000) -> bytes:
    """A BMP header claiming side x side 24-bit pixels, with none of them."""
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def psd_bytes(width: int = 8, height: int = 8) -> bytes:
    """A real (tiny, raw RGB) Photoshop file, which Pillow's PSD plugin opens."""
    header = b"8BPS" + struct.pack(">H", 1) + bytes(6) + struct.pack(">HIIHH", 3, height, width, 8, 3)
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + bytes(3 * width * height)


def jpeg_with_app1(payload: bytes) -> bytes:
    """A valid JPEG with an extra APP1 "Exif" segment holding payload (garbage EXIF)."""
    data = image_bytes(picture(3), "JPEG", quality=90)
    segment = b"Exif\x00\x00" + payload
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + data[2:]


def writer_for(content):
    """A writer from bytes, or from a callable making bytes."""
    def write(path: Path) -> None:
        path.write_bytes(content() if callable(content) else content)
    return write


def saved(fmt: str, mode: str = "RGB", seed: int = 5, **params):
    """A writer of one generated picture in ``fmt``, whatever the file's name says."""
    def write(path: Path) -> None:
        path.write_bytes(image_bytes(picture(seed).convert(mode), fmt, **params))
    return write


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_char_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is: reads never end


def make_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.close()  # the socket file stays


def image_entries(outside: Path) -> list[dict]:
    """The class-1 corpus (plus the special files of class 3 and hidden ones of class 6).

    Each entry: where it goes (relative to the dataset root), its class, the reasons a scan may
    give (or USED), what `predict` must say (None: not predicted), and its writer.
    """
    import numpy as np
    from PIL import Image

    def sixteen_bit(path):
        Image.fromarray((np.arange(40 * 48, dtype=np.uint16).reshape(40, 48) * 30).astype(np.uint16)).save(path)

    def palette_transparent(path):
        image = picture(7).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        image.save(path, transparency=0)

    def huge_exif(path):
        exif = Image.Exif()
        exif[0x010E] = "x" * 60_000  # ImageDescription: nearly the 64 KB an APP1 segment can hold
        picture(8).save(path, "JPEG", exif=exif.tobytes())

    def truncated(fmt):  # imagegen's write_truncated_jpeg is JPEG only: one writer for both formats
        def write(path):
            data = image_bytes(picture(9, (120, 90)), fmt)
            path.write_bytes(data[: len(data) // 2])
        return write

    rng = random.Random(0)
    other_formats = {"psd": writer_for(psd_bytes), "ico": saved("ICO"), "tga": saved("TGA"),
                     "pcx": saved("PCX"), "dds": saved("DDS"), "jpeg2000": saved("JPEG2000"),
                     "qoi": saved("QOI"), "sgi": saved("SGI"), "icns": saved("ICNS")}
    not_a_picture = ("not a picture in a format the studio reads",)
    corrupt = ("truncated or corrupt",)
    entries = [
        dict(path="cats/eps_as.png", cls=1, scan=not_a_picture, write=saved("EPS")),
        dict(path="cats/trunc.jpg", cls=1, scan=corrupt, write=truncated("JPEG")),
        dict(path="cats/trunc.png", cls=1, scan=corrupt, write=truncated("PNG")),
        dict(path="cats/text.jpg", cls=1, scan=not_a_picture, write=write_text_as_image),
        dict(path="cats/empty.png", cls=1, scan=("empty file",), write=write_empty_file),
        dict(path="cats/bomb_100000x100000.png", cls=1, scan=("megapixel limit",),
             write=lambda path: write_png_header_only(path, (100_000, 100_000))),
        dict(path="cats/bomb_9000x9000_1bit.png", cls=1, scan=("megapixel limit",),
             write=lambda path: write_png_bomb(path, (9000, 9000))),  # 81 MP, a few KB on disk
        dict(path="cats/bomb_65535x65535.gif", cls=1, scan=("megapixel limit",), write=writer_for(gif_header_bomb())),
        dict(path="cats/bomb_50000x50000.bmp", cls=1, scan=("megapixel limit",), write=writer_for(bmp_header_bomb())),
        *[dict(path=f"cats/{fmt}_as.png", cls=1, scan=not_a_picture, write=write)
          for fmt, write in other_formats.items()],
        dict(path="cats/pdf_as.jpg", cls=1, scan=not_a_picture, write=saved("PDF")),
        dict(path="cats/svg_as.png", cls=1, scan=not_a_picture,
             write=writer_for(b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')),
        dict(path="cats/random_bytes.jpg", cls=1, scan=not_a_picture, write=writer_for(rng.randbytes(4096))),
        dict(path="cats/jpeg_marker_only.jpg", cls=1, scan=not_a_picture + corrupt,
             write=writer_for(b"\xff\xd8\xff")),
        dict(path="cats/zero_width.png", cls=1, scan=not_a_picture + corrupt,
             write=lambda path: write_png_header_only(path, (0, 10))),
        dict(path="cats/png16.png", cls=1, scan=USED, write=sixteen_bit),
        dict(path="cats/cmyk.jpg", cls=1, scan=USED, write=saved("JPEG", "CMYK")),
        dict(path="cats/palette_transparency.png", cls=1, scan=USED, write=palette_transparent),
        dict(path="cats/animated.gif", cls=1, scan=USED,
             write=lambda path: write_animated_gif(path, [(200, 30, 30), (30, 200, 30), (30, 30, 200)])),
        dict(path="cats/huge_exif.jpg", cls=1, scan=USED, write=huge_exif),
        dict(path="cats/garbage_exif.jpg", cls=1, scan=USED, write=writer_for(jpeg_with_app1(rng.randbytes(300)))),
        dict(path="cats/jpeg_named.png", cls=1, scan=USED, write=saved("JPEG")),
        dict(path="cats/webp_named.jpg", cls=1, scan=USED, write=saved("WEBP")),
        dict(path="cats/trailing_garbage.jpg", cls=1, scan=USED,
             write=writer_for(lambda: image_bytes(picture(11), "JPEG") + rng.randbytes(10_000))),
        dict(path="cats/strip_1x4000.png", cls=1, scan=USED,
             write=lambda path: Image.new("RGB", (1, 4000), (10, 120, 200)).save(path)),
        dict(path="cats/odd\nname ü 名前.png", cls=1, scan=USED, write=saved("PNG")),
        dict(path="cats/dangling_link.png", cls=1, scan=("does not exist",), predict=("no such file",),
             write=lambda path: path.symlink_to("nowhere.png")),  # inside the dataset, to nothing
        dict(path="cats/link_outside.png", cls=1, scan=("a link to a file outside the dataset folder",),
             predict=None, write=lambda path: path.symlink_to(outside / "real.png")),
        dict(path="cats/notes.txt", cls=1, scan=("not an image file (.txt)",), predict=None,
             write=writer_for(b"notes\n")),
        dict(path="stray.png", cls=1, scan=("not inside a class folder",), predict=None, write=saved("PNG")),
        dict(path="cats/fifo.png", cls=3, scan=("not a regular file (a named pipe)",), write=make_fifo),
        dict(path="cats/char_device.png", cls=3, scan=("not a regular file (a character device)",),
             write=make_char_device),
        dict(path="cats/socket.png", cls=3, scan=("not a regular file (a socket)",), write=make_socket),
        dict(path="cats/.secret.png", cls=6, scan=("hidden",), predict=None, write=saved("PNG")),
        dict(path=".hidden", cls=6, scan=("hidden",), predict=None,
             write=lambda path: [path.mkdir(), saved("PNG")(path / "a.png"), saved("PNG", seed=6)(path / "b.png")]),
    ]
    for entry in entries:
        entry.setdefault("predict", entry["scan"])
    return entries

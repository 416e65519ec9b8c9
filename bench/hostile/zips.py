"""Hostile zips: bombs, lying headers, too many entries, slip, links, nesting and encryption.

A hostile tool writes whatever it likes into a zip's headers, and Python's zipfile will not: the
lies are patched into the bytes afterwards. Big entries are deflated in 1 MB chunks, so the bench
never holds a bomb in memory.
"""
import io
import random
import struct
import zipfile
from pathlib import Path

from imagegen import image_bytes, write_zip_entries, zip_folder

from .corpus import picture


def noisy_zip(good: Path, target: Path, megabytes: int, seed: int) -> Path:
    """The good dataset zipped, with ``megabytes`` of random bytes (incompressible) as one more picture."""
    zip_folder(good, target)
    write_zip_entries(target, {"cats/noise.bmp": random.Random(seed).randbytes(megabytes << 20)}, mode="a")
    return target


def streamed_entry(archive: zipfile.ZipFile, name: str, megabytes: int) -> None:
    """An entry of zeros, deflated in 1 MB chunks so the bench never holds it in memory."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = bytes(1 << 20)
    with archive.open(info, "w", force_zip64=megabytes >= 4096) as sink:
        for _ in range(megabytes):
            sink.write(chunk)


def patch_zip_entry(path: Path, name: str, local: tuple[int, str, int], central: tuple[int, str, int]) -> None:
    """Overwrite one field of an entry's local header and one of its central directory record.

    Each field is (offset in the record, struct format, value): how a hostile tool writes what it likes.
    """
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local_at = archive.getinfo(name).header_offset
    struct.pack_into(local[1], data, local_at + local[0], local[2])
    end = data.rfind(b"PK\x05\x06")
    count, _, at = struct.unpack_from("<HII", data, end + 10)
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46: at + 46 + name_len] == name.encode():
            struct.pack_into(central[1], data, at + central[0], central[2])
            break
        at += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))


def zip_bomb(target: Path, megabytes: int = 1024) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        streamed_entry(archive, "cats/zeros.bmp", megabytes)
    return target


def lying_zip(target: Path, good: Path, real_mb: int = 200, claimed: int = 1000) -> Path:
    """A dataset zip with one entry whose headers say ``claimed`` bytes and that inflates to ``real_mb`` MB."""
    zip_folder(good, target)
    with zipfile.ZipFile(target, "a") as archive:
        streamed_entry(archive, "cats/liar.png", real_mb)
    patch_zip_entry(target, "cats/liar.png", local=(22, "<I", claimed), central=(24, "<I", claimed))
    return target


def many_entries_zip(target: Path, count: int) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"cats/{index:05d}.png", b"")
    return target


def hostile_zip(target: Path, good: Path, token: str) -> tuple[Path, list[dict]]:
    """A small dataset zip with entries that climb out, are absolute, links, nested or encrypted."""
    png = image_bytes(picture(12), "PNG")
    entries = [
        dict(entry="../../evil-dotdot.png", reason="points outside the dataset folder"),
        dict(entry=f"{'../' * 12}tmp/tlstudio-slip-{token}.png", reason="points outside the dataset folder"),
        dict(entry=f"/tmp/tlstudio-abs-{token}.png", reason="absolute path"),
        dict(entry="C:/evil-drive.png", reason="absolute path"),
        dict(entry="..\\..\\evil-backslash.png", reason="points outside the dataset folder"),
        dict(entry="cats/link-to-passwd.png", reason="symbolic link", link="/etc/passwd"),
        dict(entry="cats/link-up", reason="symbolic link", link="../../.."),
        dict(entry="cats/inner.zip", reason="archive inside the zip"),
        dict(entry="cats/locked.png", reason="encrypted entry", encrypted=True),
        dict(entry="cats/.sneaky.png", reason="hidden"),
    ]
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("cats/x.png", png)
    zip_folder(good, target)
    write_zip_entries(target, {s["entry"]: inner.getvalue() if s["entry"].endswith(".zip") else png
                               for s in entries if "link" not in s},
                      symlinks={s["entry"]: s["link"] for s in entries if "link" in s}, mode="a")
    for spec in entries:
        if spec.get("encrypted"):  # zipfile clears the flag when writing; a hostile tool sets it
            patch_zip_entry(target, spec["entry"], local=(6, "<H", 0x1), central=(8, "<H", 0x1))
    return target, entries

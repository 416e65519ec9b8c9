#!/usr/bin/env python3
"""Issue 5, item 4: ingest speed (check + decode + cache a folder) and its peak memory.

usage: .venv/bin/python bench/ingest.py [--count 2000] [--memory-count 10000] [--repeats 3]
           [--image-size 224] [--forward-images 512] [--device auto] [--workdir /tmp]

1. Generates --count images (70% JPEG with grain, 30% PNG, a few grayscale / RGBA; sides 200-1600 px,
   smooth colour fields and shapes) in 4 class folders; generation time is excluded.
2. Times tlcore.data.scan (hash, decode, resize to --image-size, write the on-disk cache) into a
   fresh, empty ImageCache, in a child process per repeat -> images/s (median). The source files
   were just written, so they are in the OS page cache: this measures CPU work, not disk reads.
3. Times one MobileNetV2 embedding pass (tlcore.embeddings.compute_embeddings, random init) over
   --forward-images of the same images at the same size on --device -> images/s.
   Target: ingest images/s above the forward pass's.
   The same scan over the JPEG files alone shows what a folder of photos costs, and a one-thread
   profile of each stage (hash, decode, resize, write) per format shows where the time goes.
4. Peak RSS (VmHWM of the child process) scanning --memory-count files against --count files. The big
   set is the small one written again with a distinct trailer after the image data per copy, so
   every file has its own content key (its own cache entry) and the same decode cost.
   Target: peak memory that does not grow with the number of images beyond the on-disk cache.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import emit, markdown_table, median, print_header, resolve_device

CLASSES = 4


def make_photo(rng, width: int, height: int):
    """A photo-like image: a smooth colour field, a few filled shapes, grain on most."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(20, width // 2 + 21)), y0 + int(rng.integers(20, height // 2 + 21)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


def generate(folder: Path, count: int, seed: int = 0) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    files = []
    for index in range(count):
        width, height = (int(v) for v in rng.integers(200, 1601, 2))
        image = make_photo(rng, width, height)
        target = folder / f"class{index % CLASSES}" / f"img_{index:05d}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.7:
            pixels = np.asarray(image, dtype=np.int16) + rng.integers(-8, 9, (height, width, 1), dtype=np.int16)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            image = image.convert("L") if rng.random() < 0.1 else image
            path = target.with_suffix(".jpg")
            image.save(path, "JPEG", quality=88)
        else:
            image = image.convert("RGBA") if rng.random() < 0.1 else image
            path = target.with_suffix(".png")
            image.save(path, "PNG", compress_level=1)
        files.append(path)
    return files


def make_copies(files: list[Path], source: Path, folder: Path, total: int) -> None:
    """total files: the originals' bytes plus a per-copy trailer, which decoders ignore."""
    for index in range(total):
        original = files[index % len(files)]
        target = folder / original.relative_to(source).parent / f"c{index // len(files)}_{original.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(original.read_bytes() + f"\0tlstudio-copy-{index}".encode())


def scan_child(folder: str, cache: str, image_size: int) -> None:
    """Runs in its own process: scan into a fresh cache, print seconds and memory as JSON."""
    from tlcore.data.scan import scan
    from tlcore.data.imagecache import ImageCache

    rss_before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    started = time.perf_counter()
    manifest = scan(folder, cache=ImageCache(cache), image_size=image_size)
    seconds = time.perf_counter() - started
    # VmHWM is this process image's own peak; ru_maxrss would also count the parent's RSS at fork.
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    print(json.dumps({"images": len(manifest.samples), "skipped": len(manifest.skipped), "seconds": seconds,
                      "rss_before_mb": rss_before / 2**20, "peak_rss_mb": peak / 2**20}))


def timed_scan(folder: Path, cache: Path, image_size: int) -> dict:
    shutil.rmtree(cache, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--child-scan", str(folder), str(cache), str(image_size)],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cache_mb"] = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20
    result["images_per_s"] = result["images"] / result["seconds"]
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}


def link_jpegs(source: Path, folder: Path) -> None:
    """Hard-link the JPEG files of ``source`` into ``folder`` (same class folders)."""
    for path in sorted(source.rglob("*.jpg")):
        target = folder / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)


def medians(scans: list[dict]) -> dict:
    return {key: median(scan[key] for scan in scans) for key in scans[0]}


def scan_row(label: str, scan: dict) -> list:
    return [label, scan["images"], f"{scan['seconds']:.1f}", f"{scan['images_per_s']:.1f}",
            f"{scan['peak_rss_mb']:.0f}", f"{scan['peak_rss_mb'] - scan['rss_before_mb']:.0f}",
            f"{scan['cache_mb']:.0f}"]


def stage_profile(files: list[Path], image_size: int) -> dict[str, dict[str, float]]:
    """Milliseconds per image of each ingest stage, one thread, by file format.

    Calls the same functions ImageCache.ensure does, in its order, with its JPEG draft setting.
    """
    import io

    from tlcore.data.picture_file import MAX_IMAGE_PIXELS, decode, resize_center_crop
    from tlcore.data.imagecache import content_key

    totals: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for path in files:
        kind = "PNG" if path.suffix == ".png" else "JPEG"
        stages = totals.setdefault(kind, {"hash": 0.0, "decode": 0.0, "resize": 0.0, "write": 0.0})
        counts[kind] = counts.get(kind, 0) + 1
        started = time.perf_counter()
        content_key(path)
        hashed = time.perf_counter()
        image, _ = decode(path, max_pixels=MAX_IMAGE_PIXELS, keep_side=2 * image_size)  # as ensure() does
        decoded = time.perf_counter()
        pixels = resize_center_crop(image, image_size)
        resized = time.perf_counter()
        np.save(io.BytesIO(), pixels)
        written = time.perf_counter()
        for stage, seconds in (("hash", hashed - started), ("decode", decoded - hashed),
                               ("resize", resized - decoded), ("write", written - resized)):
            stages[stage] += seconds
    return {kind: {"files": counts[kind], **{stage: round(1000 * seconds / counts[kind], 2)
                                              for stage, seconds in stages.items()}}
            for kind, stages in totals.items()}


def forward_images_per_s(files: list[Path], cache: Path, image_size: int, device: str) -> float:
    """One MobileNetV2 embedding pass over cached images, the first batch run once untimed."""
    import torch
    from tlcore.models.weights import create_backbone
    from tlcore.device import configure_cpu_threads
    from tlcore.training.embeddings import compute_embeddings
    from tlcore.data.imagecache import ImageCache, content_key

    configure_cpu_threads()
    images = ImageCache(cache).load_stack([content_key(p) for p in files], image_size)
    backbone = create_backbone("mobilenet_v2", pretrained=False).to(device, memory_format=torch.channels_last)
    compute_embeddings(backbone, images[:64], device=torch.device(device))
    started = time.perf_counter()
    compute_embeddings(backbone, images, device=torch.device(device))
    return len(images) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--memory-count", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--forward-images", type=int, default=512)
    parser.add_argument("--profile-images", type=int, default=400)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--child-scan", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scan:
        return scan_child(args.child_scan[0], args.child_scan[1], int(args.child_scan[2]))
    device = resolve_device(args.device)
    print_header("Ingest: scan + cache speed and peak memory", device, vars(args))
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-ingest-", dir=args.workdir) as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        files = generate(tmp / "small", args.count)
        emit(item="ingest", what="generated", images=len(files), seconds=round(time.perf_counter() - started, 1),
             disk_mb=round(sum(p.stat().st_size for p in files) / 2**20, 1))
        scans = []
        for repeat in range(args.repeats):
            scans.append(timed_scan(tmp / "small", tmp / "cache-small", args.image_size))
            emit(item="ingest", what="scan", repeat=repeat, **scans[-1])
        link_jpegs(tmp / "small", tmp / "jpeg")
        jpeg_scans = []
        for repeat in range(args.repeats):
            jpeg_scans.append(timed_scan(tmp / "jpeg", tmp / "cache-jpeg", args.image_size))
            emit(item="ingest", what="scan_jpeg_only", repeat=repeat, **jpeg_scans[-1])
        shutil.rmtree(tmp / "cache-jpeg")
        profile = stage_profile(files[:args.profile_images], args.image_size)
        for kind, stages in profile.items():
            emit(item="ingest", what="stage_profile_ms_per_image", format=kind, **stages)
        forward = forward_images_per_s(files[:args.forward_images], tmp / "cache-small", args.image_size, device)
        emit(item="ingest", what="mobilenet_v2_forward", device=device, image_size=args.image_size,
             images=min(len(files), args.forward_images), images_per_s=round(forward, 2))
        shutil.rmtree(tmp / "cache-small")
        make_copies(files, tmp / "small", tmp / "big", args.memory_count)
        big = timed_scan(tmp / "big", tmp / "cache-big", args.image_size)
        emit(item="ingest", what="scan", repeat=0, **big)

    small, jpeg = medians(scans), medians(jpeg_scans)
    rows = [scan_row(f"scan {small['images']:.0f} images (median of {args.repeats})", small),
            scan_row(f"scan {big['images']} images", big),
            scan_row(f"scan the {jpeg['images']:.0f} JPEG files only (median of {args.repeats})", jpeg),
            [f"MobileNetV2 forward, {args.image_size} px, {device}", min(len(files), args.forward_images), "",
             f"{forward:.1f}", "", "", ""]]
    print()
    print(markdown_table(["what", "images", "seconds", "images/s", "peak RSS MB", "RSS growth during scan MB",
                          "on-disk cache MB"], rows))
    print()
    print(f"One thread, ms per image by stage (first {args.profile_images} files):")
    print(markdown_table(["format", "files", "hash", "decode", "resize", "write", "total"],
                         [[kind, stages["files"], *(f"{stages[k]:.2f}" for k in ("hash", "decode", "resize", "write")),
                           f"{sum(stages[k] for k in ('hash', 'decode', 'resize', 'write')):.2f}"]
                          for kind, stages in sorted(profile.items())]))
    per_image_kb = (big["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 / max(big["images"] - small["images"], 1)
    print(f"\ningest / forward: {small['images_per_s'] / forward:.2f}x (target > 1), "
          f"JPEG files only {jpeg['images_per_s'] / forward:.2f}x; "
          f"peak RSS {big['images']} vs {small['images']:.0f} images: {big['peak_rss_mb']:.0f} vs "
          f"{small['peak_rss_mb']:.0f} MB, {per_image_kb:.2f} kB per extra image (the manifest's rows).")


if __name__ == "__main__":
    main()

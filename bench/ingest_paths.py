#!/usr/bin/env python3
"""Issue 17: what remains to try for ingest, measured on bench/ingest.py's mix (70% grainy JPEG, 30% PNG,
200-1600 px) scanned into an empty cache at --image-size.

usage: .venv/bin/python bench/ingest_paths.py [--count 1000] [--image-size 224] [--repeats 3]

1. threads against processes: the engine's scan (a thread pool: Pillow releases the GIL while it
   decodes) against the same per-file work (ImageCache.ensure) in a process pool of as many processes
   (spawned, as a server that has used torch must), pool start included. Each in a fresh process.
2. a reduced-size path for PNG: Pillow decodes a JPEG at a reduced DCT scale (draft) but has no such
   path for PNG; what it offers is reduce() before the resize (resize's reducing_gap). Per PNG, one
   thread: decode, the engine's resize, and the resize with reducing_gap=2; and how far its pixels move.
3. overlapping ingest with the first embedding batches: the scan of one folder and a MobileNetV2
   embedding pass over as many pictures already cached, one after the other against both at once (a
   thread each). Overlap can only win the time one stage leaves a core idle: this bounds its gain.
"""
import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from common import emit, markdown_table, median, print_header, publish
from ingest import generate, timed_scan


def process_pool_child(folder: str, cache: str, image_size: int) -> None:
    """Runs in its own process: the scan's per-file work in a process pool; prints seconds as JSON."""
    from tlcore.cpus import usable_cpu_count

    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(usable_cpu_count(), mp_context=context) as pool:
        keys = list(pool.map(ensure_one, files, [cache] * len(files), [image_size] * len(files), chunksize=8))
    assert all(keys)
    print(json.dumps({"images": len(files), "seconds": time.perf_counter() - started}))


def ensure_one(path: Path, cache: str, image_size: int) -> str:
    from tlcore.data.imagecache import ImageCache
    return ImageCache(cache).ensure(path, image_size)


def timed_process_scan(folder: Path, cache: Path, image_size: int) -> dict:
    import shutil
    shutil.rmtree(cache, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--process-child", str(folder), str(cache), str(image_size)],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": round(result["seconds"], 2), "images_per_s": round(result["images"] / result["seconds"], 1)}


def png_paths(files: list[Path], image_size: int) -> dict:
    """Milliseconds per PNG: decode, the engine's resize, the resize with reduce() first; pixel change."""
    from PIL import Image

    from tlcore.data.picture_file import MAX_IMAGE_PIXELS, decode, resize_center_crop

    pngs = [p for p in files if p.suffix == ".png"]
    decoding = plain = reduced = 0.0
    moved = []
    for path in pngs:
        started = time.perf_counter()
        image, _ = decode(path, max_pixels=MAX_IMAGE_PIXELS, keep_side=2 * image_size)
        decoded = time.perf_counter()
        pixels = resize_center_crop(image, image_size)
        resized = time.perf_counter()
        with patched_reducing_gap(Image.Image.resize, 2.0):
            fast = resize_center_crop(image, image_size)
        done = time.perf_counter()
        decoding, plain, reduced = decoding + decoded - started, plain + resized - decoded, reduced + done - resized
        moved.append(np.abs(fast.astype(np.int16) - pixels.astype(np.int16)).mean())
    n = len(pngs)
    return {"pngs": n, "decode_ms": round(1000 * decoding / n, 2), "resize_ms": round(1000 * plain / n, 2),
            "reduced_resize_ms": round(1000 * reduced / n, 2), "levels_moved": round(float(np.mean(moved)), 2)}


class patched_reducing_gap:
    """Within the block, Image.resize reduces by whole factors first (reducing_gap), as thumbnail() does."""

    def __init__(self, resize, gap: float):
        self.resize, self.gap = resize, gap

    def __enter__(self):
        from PIL import Image
        original, gap = self.resize, self.gap
        Image.Image.resize = lambda image, size, *args, **kwargs: original(image, size, *args,
                                                                          **{**kwargs, "reducing_gap": gap})

    def __exit__(self, *exc):
        from PIL import Image
        Image.Image.resize = self.resize


def overlap(folder: Path, embedded: Path, cache: Path, image_size: int) -> dict:
    """Scan ``folder`` into an empty ``cache`` and embed the pictures of ``embedded`` (already cached):
    in sequence, then at once. Seconds of each and the ratio."""
    import shutil

    import torch

    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.device import configure_cpu_threads
    from tlcore.models.weights import create_backbone
    from tlcore.training.embeddings import compute_embeddings

    configure_cpu_threads()
    manifest = scan(embedded, cache=ImageCache(cache / "ready"), image_size=image_size)
    pictures = ImageCache(cache / "ready").load_stack([s.key for s in manifest.samples], image_size)
    backbone = create_backbone("mobilenet_v2", pretrained=False).to(memory_format=torch.channels_last)
    compute_embeddings(backbone, pictures[:32], device=torch.device("cpu"))  # warm: first-call costs apart

    def ingest():
        shutil.rmtree(cache / "fresh", ignore_errors=True)
        scan(folder, cache=ImageCache(cache / "fresh"), image_size=image_size)

    def embed():
        compute_embeddings(backbone, pictures, device=torch.device("cpu"))

    started = time.perf_counter()
    ingest()
    scan_s = time.perf_counter() - started
    embed()
    sequence = time.perf_counter() - started
    started = time.perf_counter()
    other = threading.Thread(target=ingest)
    other.start()
    embed()
    other.join()
    together = time.perf_counter() - started
    return {"scan_s": round(scan_s, 2), "embed_s": round(sequence - scan_s, 2),
            "sequence_s": round(sequence, 2), "together_s": round(together, 2),
            "gain": round(sequence / together, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print_header("Ingest: what remains to try", "cpu", vars(args))
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-ingest-paths-") as work:
        work = Path(work)
        files = generate(work / "mix", args.count)
        second = generate(work / "second", args.count, seed=1)
        threads, processes = [], []
        for repeat in range(args.repeats):  # interleaved: the machine's drift on both
            threads.append(timed_scan(work / "mix", work / "cache", args.image_size))
            processes.append(timed_process_scan(work / "mix", work / "cache", args.image_size))
            emit(item="pools", repeat=repeat, threads=threads[-1], processes=processes[-1])
        png = png_paths(files, args.image_size)
        emit(item="png", **png)
        overlaps = [overlap(work / "mix", work / "second", work / "overlap", args.image_size)
                    for _ in range(args.repeats)]
        for result in overlaps:
            emit(item="overlap", **result)
        del second
    thread_rate = median(t["images_per_s"] for t in threads)
    process_rate = median(p["images_per_s"] for p in processes)
    rows = [["scan, a thread per core (the engine)", f"{thread_rate:.0f}", "1.00"],
            ["the same work, a process per core", f"{process_rate:.0f}", f"{process_rate / thread_rate:.2f}"]]
    text = [markdown_table(["ingest of the mix", "images/s (median)", "vs threads"], rows),
            markdown_table(["per PNG, one thread", "ms"],
                           [["decode", png["decode_ms"]], ["resize (the engine's)", png["resize_ms"]],
                            ["resize with reduce() first (reducing_gap=2)", png["reduced_resize_ms"]],
                            ["its pixels moved, mean levels", png["levels_moved"]]]),
            markdown_table(["scan + embedding pass over as many pictures", "seconds (median)"],
                           [["one after the other", median(o["sequence_s"] for o in overlaps)],
                            ["at once (a thread each)", median(o["together_s"] for o in overlaps)],
                            ["gain", median(o["gain"] for o in overlaps)]])]
    publish("ingest_paths", "\n\n".join(text))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--process-child":
        process_pool_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(main())

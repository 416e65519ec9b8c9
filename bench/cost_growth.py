#!/usr/bin/env python3
"""Issue 17: how cost grows with the number of pictures. Ingest, feature extraction and one fine-tuning
epoch at 1,000 to 60,000 training pictures (Fashion-MNIST's training set written as PNG files, 10
classes; 100 validation pictures per class at every size, so only training grows), MobileNetV2, 128 px.

usage: .venv/bin/python bench/cost_growth.py [--sizes 1000,5000,20000,60000] [--fine-tune-up-to 20000]

Each stage is its own process in one studio home per size, run in order, so each finds what the
one before it left (feature extraction reads the ingested pixels, fine-tuning too):
  ingest       `tlcore.data.scan` into a cold cache (decode, resize, write);
  features     `train` feature extraction, 1 epoch: the feature pass over every picture, and a head epoch;
  fine-tune    `train --strategy fine_tune --head-epochs 0 --epochs 1`: one epoch through the whole network.
For each: wall time, pictures per second and the process's peak memory (ru_maxrss). Time should grow
linearly and memory stay flat apart from the manifest. Writes a log-log plot to bench/out/cost_growth.svg.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from common import OUT, ROOT, emit, ensure_fmnist, markdown_table, print_header, publish

ALL_CLASSES = "0,1,2,3,4,5,6,7,8,9"
INGEST = """
import sys, time
from tlcore import paths
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
started = time.perf_counter()
manifest = scan(sys.argv[1], cache=ImageCache(paths.cache_dir()), image_size=128)
print('{"seconds": %.3f, "pictures": %d}' % (time.perf_counter() - started, len(manifest.samples)))
"""


def measured(cmd: list, env: dict) -> dict:
    """Run one stage through a wrapper process (one() below, whose only child it is, so the peak memory
    it reads is this stage's): wall seconds and peak resident memory in MB."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--one", json.dumps([str(c) for c in cmd])],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{done.stderr[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_mb": json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000,60000")
    parser.add_argument("--fine-tune-up-to", type=int, default=20000,
                        help="sizes above this skip the fine-tuning epoch (25 minutes at 60,000 on 2 cores)")
    args = parser.parse_args()
    print_header("How cost grows with the number of pictures", "cpu", vars(args))
    rows, records = [], []
    for size in (int(s) for s in args.sizes.split(",")):
        data = ensure_fmnist(size // 10, 100, classes=ALL_CLASSES)
        with tempfile.TemporaryDirectory(prefix="tlstudio-bench-growth-") as home:
            env = dict(os.environ, TLSTUDIO_HOME=home)
            stages = {"ingest": [sys.executable, "-c", INGEST, data],
                      "features": [sys.executable, "-m", "tlcore", "train", data, "--epochs", "1", "--quiet",
                                   "--device", "cpu"]}
            if size <= args.fine_tune_up_to:
                stages["fine-tune epoch"] = [sys.executable, "-m", "tlcore", "train", data, "--strategy",
                                             "fine_tune", "--head-epochs", "0", "--epochs", "1", "--quiet",
                                             "--device", "cpu", "--early-stop", "0"]
            for stage, cmd in stages.items():
                result = measured(cmd, env)
                record = dict(size=size, stage=stage, wall_s=result["wall_s"], peak_mb=result["peak_mb"],
                              pictures_per_s=round(size / result["wall_s"], 1))
                emit(**record)
                records.append(record)
                rows.append([f"{size:,}", stage, f"{record['wall_s']:.1f}", f"{record['pictures_per_s']:.0f}",
                             f"{record['peak_mb']:.0f}"])
    publish("cost_growth", markdown_table(["training pictures", "stage", "wall s", "pictures/s", "peak MB"], rows))
    plot(records)
    return 0


def one(cmd: list) -> None:
    """The wrapper: run one stage as its only child and print that child's peak memory."""
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(done.returncode)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"peak_mb": round(peak_kb / 1024, 1)}))


def plot(records: list[dict]) -> None:
    """Log-log: seconds and peak MB against pictures, one line per stage (bench/out/cost_growth.svg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (seconds, memory) = plt.subplots(1, 2, figsize=(10, 4))
    for stage in dict.fromkeys(r["stage"] for r in records):
        mine = [r for r in records if r["stage"] == stage]
        sizes = [r["size"] for r in mine]
        seconds.plot(sizes, [r["wall_s"] for r in mine], marker="o", label=stage)
        memory.plot(sizes, [r["peak_mb"] for r in mine], marker="o", label=stage)
    for axes, title in ((seconds, "wall seconds"), (memory, "peak memory, MB")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("training pictures")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
    seconds.legend()
    OUT.mkdir(exist_ok=True)
    figure.tight_layout()
    figure.savefig(OUT / "cost_growth.svg")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        one(json.loads(sys.argv[2]))
    else:
        sys.exit(main())

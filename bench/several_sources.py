#!/usr/bin/env python3
"""Issue 14: several sources at once, on Fashion-MNIST 5-9 with classes 0-4 as the second source.

usage: .venv/bin/python bench/several_sources.py [--sizes 5,20] [--seeds 0,1,2] [--image-size 64]

Combined features (feature extraction, the studio's defaults): MobileNetV2 (ImageNet), EfficientNet-Lite0
(ImageNet), your own source (bench/own_source.py's MobileNetV2 trained from scratch on 0-4, reused when
present), and the combinations MobileNetV2 + EfficientNet-Lite0 and MobileNetV2 + own source.

Joint against sequential (fine-tuning MobileNetV2, the studio's defaults): plain fine-tuning on 5-9;
sequential: fine-tuning on 0-4 (100 pictures per class) first, then on 5-9 from that run (--init-from);
joint: fine-tuning on 5-9 with 0-4 as --joint-with, one batch of each per step. Sequential's first run
is counted in its seconds.

Every run is `python -m tlcore train ... --quiet` in its own process, all at the same image size,
best validation accuracy on 100 pictures per class of Fashion-MNIST's test split. Writes
bench/out/several_sources.md.
"""
import argparse
import sys
import tempfile
from pathlib import Path

from common import emit, engine_run, ensure_fmnist, markdown_table, print_header, publish, spread
from own_source import source_run

HOMES = Path(tempfile.gettempdir()) / "tlstudio-bench-several-sources"
COMBINED_ARMS = ("mobilenet_v2", "efficientnet_lite0", "own source", "mobilenet_v2+efficientnet_lite0",
                 "mobilenet_v2+own source")
JOINT_ARMS = ("fine-tune", "sequential (0-4, then 5-9)", "joint (5-9 with 0-4)")


def feature_run(arm: str, data: Path, source_dir: str, *, seed: int, image_size: int, device: str, home: Path) -> dict:
    # "own source" is a MobileNetV2 whose body comes from the source run (--init-from fills the last one)
    networks = [("mobilenet_v2" if n == "own source" else n) for n in arm.split("+")]
    extra = ("--init-from", source_dir) if "own source" in arm else ()
    return engine_run(data, backbone="+".join(networks), strategy="feature_extraction",
                      epochs=None, image_size=image_size, device=device, seed=seed, home=home, extra=extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5,20")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print_header("Issue 14: several sources (combined features; joint vs sequential)", args.device, vars(args))
    source = source_run(image_size=args.image_size, device=args.device)
    second = ensure_fmnist(100, 20, seed=0, classes="0,1,2,3,4")
    records = []
    for size in sizes:
        for seed in seeds:
            data = ensure_fmnist(size, 100, seed=seed)
            home = HOMES / f"{size}-s{seed}"
            for arm in COMBINED_ARMS:
                result = feature_run(arm, data, source["run_dir"], seed=seed, image_size=args.image_size,
                                     device=args.device, home=home)
                records.append(record("combined", arm, size, seed, result["best_val_acc"], result["process_s"]))

            common = dict(backbone="mobilenet_v2", strategy="fine_tune", epochs=None, image_size=args.image_size,
                          device=args.device, seed=seed, home=home)
            plain = engine_run(data, **common)
            records.append(record("joint", JOINT_ARMS[0], size, seed, plain["best_val_acc"], plain["process_s"]))
            first = engine_run(second, **common)
            then = engine_run(data, **common, extra=("--init-from", first["run_dir"]))
            records.append(record("joint", JOINT_ARMS[1], size, seed, then["best_val_acc"],
                                  first["process_s"] + then["process_s"]))
            joint = engine_run(data, **common, extra=("--joint-with", second))
            records.append(record("joint", JOINT_ARMS[2], size, seed, joint["best_val_acc"], joint["process_s"]))

    text = (f"Fashion-MNIST 5-9, {args.image_size} px, best validation accuracy, mean (range) over seeds "
            f"{args.seeds}; own source: {source['run_dir']}.\n\n"
            "Combined features (feature extraction):\n\n" + table(records, "combined", COMBINED_ARMS, sizes) +
            "\n\nJoint against sequential (fine-tuning MobileNetV2; 0-4: 100 pictures per class):\n\n" +
            table(records, "joint", JOINT_ARMS, sizes) + "\n")
    publish("several_sources", text)
    return 0


def record(part: str, arm: str, size: int, seed: int, accuracy: float, seconds: float) -> dict:
    entry = dict(part=part, arm=arm, per_class=size, seed=seed, best_val_acc=accuracy, process_s=round(seconds, 1))
    emit(**entry)
    return entry


def table(records: list[dict], part: str, arms, sizes: list[int]) -> str:
    rows = []
    for arm in arms:
        row = [arm]
        for size in sizes:
            mine = [r for r in records if r["part"] == part and r["arm"] == arm and r["per_class"] == size]
            row += [spread(r["best_val_acc"] for r in mine), f"{sum(r['process_s'] for r in mine) / len(mine):.0f}"]
        rows.append(row)
    return markdown_table(["arm"] + [h for s in sizes for h in (f"{s} per class", f"{s}/class s")], rows)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Issue 5, item 1: the engine's feature_extraction against the hand-written frozen-backbone loop.

usage: .venv/bin/python bench/feature_extraction.py [--repeats 3] [--epochs 10] [--sizes 128,224]
           [--backbones mobilenet_v2,efficientnet_lite0] [--device auto] [--train-per-class 40]

Data: Fashion-MNIST classes 5-9, 40 train / 100 val per class (bench/make_fmnist.py). Per repeat,
backbone and size, the reference (`reference_loop.py --mode feature`) and the engine run back to
back (interleaved, so a noisy neighbour slows both sides of a ratio alike). Every engine run gets an
empty studio home: its wall time includes the scan, decoding, loading the weights and computing the
embeddings. The reference's wall_s covers only its epochs (model building excluded), which favours
the reference. Target: engine at least 5x faster at equal or better best validation accuracy.
Prints one JSON line per run, then a markdown table of medians.
"""
import argparse

from common import (reference_and_engine, emit, engine_run, ensure_fmnist, markdown_table, median, print_header, reference_run,
                    resolve_device, speedup)

TIMINGS = ("scan_s", "load_arrays_s", "backbone_s", "embedding_s", "head_s")


def time_split(timings: dict) -> dict:
    """The run's timings with fit_s split: the embedding pass runs inside fit (lazily, per phase)."""
    return dict(timings, head_s=round(timings.get("fit_s", 0.0) - timings.get("embedding_s", 0.0), 3))


def measure(data, *, backbone: str, image_size: int, epochs: int, device: str, repeat: int) -> list[dict]:
    """One reference run and one engine run; each is printed as a JSON line and returned."""
    base = {"item": "feature_extraction", "backbone": backbone, "image_size": image_size, "epochs": epochs,
            "repeat": repeat}
    ref = reference_run(data, mode="feature", epochs=epochs, image_size=image_size, backbone=backbone,
                        device=device)
    records = [dict(base, what="reference", wall_s=ref["wall_s"], process_s=ref["process_s"],
                    best_val_acc=ref["best_val_acc"], val_acc=ref["val_acc"])]
    ours = engine_run(data, backbone=backbone, strategy="feature_extraction", epochs=epochs,
                      image_size=image_size, device=device)
    records.append(dict(base, what="engine", wall_s=ours["wall_s"], process_s=ours["process_s"],
                        best_val_acc=ours["best_val_acc"], final_val_acc=ours["final_val_acc"],
                        timings=time_split(ours["timings"]), run_status=ours["status"]))
    for record in records:
        emit(**record)
    return records


def table(records: list[dict]) -> str:
    """Medians per (backbone, size): wall times, the speed-up, accuracies, the engine's time split."""
    rows = []
    for key, ref, ours in reference_and_engine(records):
        ref_wall, our_wall = median(r["wall_s"] for r in ref), median(r["wall_s"] for r in ours)
        split = " / ".join(f"{median(r['timings'].get(t) for r in ours):.1f}" for t in TIMINGS)
        rows.append([key[0], key[1], key[2], len(ref), f"{ref_wall:.1f}", f"{our_wall:.1f}",
                     speedup(ref_wall, our_wall),
                     speedup(median(r["process_s"] for r in ref), median(r["process_s"] for r in ours)),
                     f"{median(r['best_val_acc'] for r in ref):.3f}", f"{median(r['best_val_acc'] for r in ours):.3f}",
                     split])
    return markdown_table(
        ["backbone", "px", "epochs", "repeats", "reference wall s", "engine wall s", "speed-up (wall)",
         "speed-up (whole process)", "reference best acc", "engine best acc",
         "engine s: scan / load arrays / backbone / embeddings / head epochs"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sizes", default="128,224", help="image sizes in px, comma-separated")
    parser.add_argument("--backbones", default="mobilenet_v2,efficientnet_lite0")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--val-per-class", type=int, default=100)
    args = parser.parse_args()
    device = resolve_device(args.device)
    print_header("Feature extraction: engine vs hand-written loop", device, vars(args))
    data = ensure_fmnist(args.train_per_class, args.val_per_class)
    records = []
    for repeat in range(args.repeats):
        for backbone in args.backbones.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                records += measure(data, backbone=backbone, image_size=size, epochs=args.epochs,
                                   device=device, repeat=repeat)
    print()
    print(f"Medians of {args.repeats} repeat(s); speed-up = reference wall s / engine wall s.")
    print(table(records))


if __name__ == "__main__":
    main()

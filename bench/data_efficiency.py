#!/usr/bin/env python3
"""Issue 5, item 6: best validation accuracy against training images per class, for each strategy.

usage: .venv/bin/python bench/data_efficiency.py [--sizes 5,10,20,40] [--seeds 3] [--image-size 128]
           [--fe-epochs 30] [--ft-epochs 5] [--scratch-epochs 15] [--backbone mobilenet_v2] [--device auto]

Fashion-MNIST classes 5-9. Seed s draws the training images (make_fmnist.py --seed s; the first n
of each class, so the subsets of one seed are nested) and seeds the run (--seed s). Validation is
the same 100 per class for every run (drawn with seed 0 from the official test split). Strategies:
feature_extraction (--fe-epochs), fine_tune (--ft-epochs after its default 5 head epochs), scratch
(--scratch-epochs). Runs share one studio home (accuracy does not depend on caches).
Writes bench/out/data_efficiency.csv and .svg (a hand-written plot: no plotting dependency), prints
one JSON line per run and a markdown table (mean and min-max over seeds).
"""
import argparse
import csv
import math
import shutil
import statistics
import tempfile
from pathlib import Path

from common import OUT, emit, engine_run, ensure_fmnist, markdown_table, print_header, resolve_device

COLOURS = {"feature_extraction": "#1f77b4", "fine_tune": "#d62728", "scratch": "#7f7f7f"}


def subset(base: Path, val_from: Path, per_class: int, target: Path) -> Path:
    """train/: the first per_class images of each class of base; val/: val_from's, copied."""
    for folder in sorted((base / "train").iterdir()):
        (target / "train" / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:per_class]:
            shutil.copy2(image, target / "train" / folder.name / image.name)
    shutil.copytree(val_from / "val", target / "val")
    return target


def svg_plot(results: dict[str, dict[int, list[float]]], title: str) -> str:
    """Accuracy (y) against images per class (x, log scale): mean lines, one dot per seed."""
    width, height, left, right, top, bottom = 680, 400, 60, 170, 40, 50
    sizes = sorted({n for by_size in results.values() for n in by_size})
    values = [v for by_size in results.values() for vs in by_size.values() for v in vs]
    y_low = math.floor(min(values) * 10) / 10
    span = math.log(sizes[-1] / sizes[0]) or 1.0
    x_of = lambda n: left + 20 + math.log(n / sizes[0]) / span * (width - left - right - 40)
    y_of = lambda v: top + (1.0 - v) / (1.0 - y_low) * (height - top - bottom)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="22" font-size="14">{title}</text>']
    for step in range(round((1.0 - y_low) * 10) + 1):
        v = y_low + step / 10
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y_of(v):.1f}" y2="{y_of(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y_of(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    for n in sizes:
        parts.append(f'<line x1="{x_of(n):.1f}" x2="{x_of(n):.1f}" y1="{top}" y2="{height - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{x_of(n):.1f}" y="{height - bottom + 18}" text-anchor="middle">{n}</text>')
    parts.append(f'<polyline points="{left},{top} {left},{height - bottom} {width - right},{height - bottom}" '
                 'fill="none" stroke="black"/>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">'
                 'training images per class (log scale)</text>')
    parts.append(f'<text transform="translate(16,{(top + height - bottom) / 2}) rotate(-90)" '
                 'text-anchor="middle">best validation accuracy</text>')
    for index, (strategy, by_size) in enumerate(results.items()):
        colour = COLOURS.get(strategy, "black")
        means = " ".join(f"{x_of(n):.1f},{y_of(statistics.mean(vs)):.1f}" for n, vs in sorted(by_size.items()))
        parts.append(f'<polyline points="{means}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x_of(n):.1f}" cy="{y_of(v):.1f}" r="3" fill="{colour}" fill-opacity="0.5"/>'
                  for n, vs in by_size.items() for v in vs]
        y = top + 20 * index + 10
        parts.append(f'<line x1="{width - right + 15}" x2="{width - right + 40}" y1="{y}" y2="{y}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 46}" y="{y + 4}">{strategy.replace("_", " ")}</text>')
    return "\n".join(parts + ["</svg>"]) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5,10,20,40", help="training images per class")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--fe-epochs", type=int, default=30)
    parser.add_argument("--ft-epochs", type=int, default=5)
    parser.add_argument("--scratch-epochs", type=int, default=15)
    parser.add_argument("--strategies", default="feature_extraction,fine_tune,scratch")
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out-dir", default=str(OUT))
    args = parser.parse_args()
    device = resolve_device(args.device)
    print_header("Data efficiency: accuracy against training images per class", device, vars(args))
    sizes = [int(n) for n in args.sizes.split(",")]
    epochs = {"feature_extraction": args.fe_epochs, "fine_tune": args.ft_epochs, "scratch": args.scratch_epochs}
    strategies = args.strategies.split(",")
    val_from = ensure_fmnist(max(sizes), args.val_per_class, seed=0)
    rows, results = [], {s: {} for s in strategies}
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-dataeff-") as tmp:
        for seed in range(args.seeds):
            base = ensure_fmnist(max(sizes), args.val_per_class, seed=seed)
            for n in sizes:
                data = subset(base, val_from, n, Path(tmp) / f"s{seed}-n{n}")
                for strategy in strategies:
                    run = engine_run(data, backbone=args.backbone, strategy=strategy, epochs=epochs[strategy],
                                     image_size=args.image_size, device=device, seed=seed, home=Path(tmp) / "home")
                    row = {"strategy": strategy, "per_class": n, "seed": seed, "epochs": epochs[strategy],
                           "best_val_acc": run["best_val_acc"], "final_val_acc": run["final_val_acc"],
                           "wall_s": run["wall_s"]}
                    rows.append(row)
                    results[strategy].setdefault(n, []).append(run["best_val_acc"])
                    emit(item="data_efficiency", **row)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "data_efficiency.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    title = f"{args.backbone}, Fashion-MNIST 5 classes, {args.image_size} px, {args.seeds} seeds"
    (out / "data_efficiency.svg").write_text(svg_plot(results, title))
    print()
    print(f"Best validation accuracy, mean (min-max) over {args.seeds} seed(s); {args.val_per_class} val images "
          f"per class. Written: {out / 'data_efficiency.csv'}, {out / 'data_efficiency.svg'}")
    print(markdown_table(
        ["strategy (epochs)"] + [f"{n} per class" for n in sizes],
        [[f"{s.replace('_', ' ')} ({epochs[s]})"] + [
            f"{statistics.mean(results[s][n]):.3f} ({min(results[s][n]):.3f}-{max(results[s][n]):.3f})"
            for n in sizes] for s in strategies]))


if __name__ == "__main__":
    main()

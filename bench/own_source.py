#!/usr/bin/env python3
"""Issue 14: the classic transfer experiment, offline. A source network trained from scratch on
Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover, dress, coat), reused on classes 5-9
(sandal, shirt, sneaker, bag, ankle boot) with few labelled pictures, against training from
scratch and against ImageNet's weights.

usage: .venv/bin/python bench/own_source.py [--source-per-class 1000] [--source-epochs 10]
           [--sizes 5,10,20,40] [--seeds 0,1,2] [--image-size 64]

Source: --source-per-class training and 100 validation pictures per class, MobileNetV2 from
scratch (`--strategy scratch`), --source-epochs epochs; its wall time is reported (the issue asks
for a source that trains on 2 CPU cores in under 10 minutes). Target: N training pictures per
class from the training split, 100 validation pictures per class from the test split, drawn with
the seed. Arms, each with the studio's defaults for its strategy (epochs, rates, early stopping):
scratch; feature extraction and fine-tuning from the source run (--init-from); feature extraction
and fine-tuning from ImageNet. Every run is `python -m tlcore train ... --quiet` in its own process,
all at the same image size. Writes bench/out/own_source.md (table) and own_source.html (plot).

--dataset cifar10 runs the same experiment on CIFAR-10 (classes 0-4: airplane, automobile, bird, cat,
deer; 5-9: dog, frog, horse, ship, truck), as the classic article ran it; CIFAR-10 is downloaded once
(170 MB), and where it cannot be the script says why and stops (exit 0).
"""
import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from common import OUT, emit, engine_run, ensure_fmnist, markdown_table, print_header, spread

HOMES = Path(tempfile.gettempdir()) / "tlstudio-bench-own-source"
ARMS = (("scratch", None), ("feature_extraction", "own"), ("fine_tune", "own"),
        ("feature_extraction", "imagenet"), ("fine_tune", "imagenet"))


def ensure_cifar10(train_per_class: int, val_per_class: int, seed: int = 0, classes: str = "5,6,7,8,9") -> Path:
    """CIFAR-10 classes as train/ and val/ image folders (tlcore's one-click installer), made once."""
    from tlcore.data.samples import install_cifar10

    which = classes.replace(",", "")
    dest = Path(tempfile.gettempdir()) / f"tlstudio-bench-cifar10-c{which}-{train_per_class}-{val_per_class}-s{seed}"
    return install_cifar10(tuple(int(c) for c in classes.split(",")), train_per_class, val_per_class, seed, dest)


DATASETS = {"fashion-mnist": ensure_fmnist, "cifar10": ensure_cifar10}  # (per class, val per class, seed, classes)


def source_run(*, per_class: int = 1000, epochs: int = 10, image_size: int = 64, device: str = "auto",
               reuse: bool = True, dataset: str = "fashion-mnist") -> dict:
    """The source network: MobileNetV2 trained from scratch on classes 0-4 (early stopping off).

    Args:
        reuse: take the last finished source run of these settings when there is one (few_shot.py
            uses own_source.py's), instead of training it again.

    Returns:
        The CLI's JSON for the run (run_dir, best_val_acc, process_s when trained now), plus "data".
    """
    data = DATASETS[dataset](per_class, 100, seed=0, classes="0,1,2,3,4")
    home = HOMES / ("source" if dataset == "fashion-mnist" else f"source-{dataset}")
    if reuse:
        for run_dir in sorted((home / "runs").glob("*-scratch-*"), reverse=True):
            status = json.loads((run_dir / "status.json").read_text())
            config = json.loads((run_dir / "config.json").read_text())
            if status.get("state") == "succeeded" and config["data"] == str(data.resolve()) and \
                    config["epochs"] == epochs and config["image_size"] == image_size:
                return dict(run_dir=str(run_dir), best_val_acc=status["best_val_acc"], data=str(data), reused=True)
    result = engine_run(data, backbone="mobilenet_v2", strategy="scratch", epochs=epochs, image_size=image_size,
                        device=device, home=home, extra=("--early-stop", 0))
    return result | {"data": str(data)}


def arm_name(strategy: str, start: str | None) -> str:
    return strategy if start is None else f"{strategy} from {start}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-per-class", type=int, default=1000)
    parser.add_argument("--source-epochs", type=int, default=10)
    parser.add_argument("--sizes", default="5,10,20,40")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dataset", choices=("fashion-mnist", "cifar10"), default="fashion-mnist",
                        help="cifar10: the experiment as the article ran it (classes 0-4 -> 5-9, 32 px pictures); "
                             "it needs the internet once to download CIFAR-10, and is skipped, saying why, without")
    args = parser.parse_args()
    make_data = DATASETS[args.dataset]
    if args.dataset == "cifar10":
        try:  # fetched once here, so a machine without the internet is told at once, and why
            make_data(1, 1, seed=0)
        except OSError as error:
            print(f"skipped: {error}")
            return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print_header(f"Issue 14: your own source model ({args.dataset} 0-4 -> 5-9)", args.device, vars(args))

    source = source_run(per_class=args.source_per_class, epochs=args.source_epochs, image_size=args.image_size,
                        device=args.device, reuse=False, dataset=args.dataset)
    emit(item="source", best_val_acc=source["best_val_acc"], process_s=source["process_s"], wall_s=source["wall_s"])

    records = []
    for size in sizes:
        for seed in seeds:
            data = make_data(size, 100, seed=seed)
            home = HOMES / f"target-{args.dataset}-{size}-s{seed}"  # shared by the arms: pictures decoded once
            for strategy, start in ARMS:
                extra = ("--init-from", source["run_dir"]) if start == "own" else ()
                result = engine_run(data, backbone="mobilenet_v2", strategy=strategy, epochs=None,
                                    image_size=args.image_size, device=args.device, seed=seed, home=home,
                                    extra=extra)
                record = dict(item="target", arm=arm_name(strategy, start), per_class=size, seed=seed,
                              best_val_acc=result["best_val_acc"], best_phase=result.get("best_phase"),
                              process_s=result["process_s"])
                emit(**record)
                records.append(record)

    table = results_table(records, sizes)
    print(f"source: {source['best_val_acc']:.3f} best validation accuracy on classes 0-4, "
          f"{source['process_s']:.0f} s for the whole process")
    print(table)
    OUT.mkdir(exist_ok=True)
    name = "own_source" if args.dataset == "fashion-mnist" else f"own_source_{args.dataset}"
    (OUT / f"{name}.md").write_text(
        f"Source (scratch, {args.source_per_class} per class, {args.source_epochs} epochs, {args.image_size} px): "
        f"best validation accuracy {source['best_val_acc']:.3f}, {source['process_s']:.0f} s.\n\n{table}\n")
    write_plot(records, sizes, OUT / f"{name}.html")
    return 0


def results_table(records: list[dict], sizes: list[int]) -> str:
    rows = []
    for strategy, start in ARMS:
        name = arm_name(strategy, start)
        row = [name]
        for size in sizes:
            row.append(spread(r["best_val_acc"] for r in records if r["arm"] == name and r["per_class"] == size))
        rows.append(row)
    return markdown_table(["arm"] + [f"{size} per class" for size in sizes], rows)


def write_plot(records: list[dict], sizes: list[int], path: Path) -> None:
    import plotly.graph_objects as go

    figure = go.Figure()
    for strategy, start in ARMS:
        name = arm_name(strategy, start)
        means, lows, highs = [], [], []
        for size in sizes:
            values = [r["best_val_acc"] for r in records if r["arm"] == name and r["per_class"] == size]
            means.append(statistics.mean(values))
            lows.append(statistics.mean(values) - min(values))
            highs.append(max(values) - statistics.mean(values))
        figure.add_scatter(x=sizes, y=means, name=name, mode="lines+markers",
                           error_y=dict(type="data", array=highs, arrayminus=lows))
    figure.update_layout(title="Fashion-MNIST 5-9: accuracy by pictures per class (mean, range over seeds)",
                         xaxis=dict(title="training pictures per class", type="log", tickvals=sizes),
                         yaxis=dict(title="best validation accuracy"))
    figure.write_html(path, include_plotlyjs=True)


if __name__ == "__main__":
    sys.exit(main())

"""Issue 30: feature extraction with BatchNorm statistics adapted to the training pictures (--adapt-norm 1)
against the network's own ImageNet statistics (--adapt-norm 0).

Fashion-MNIST 5-9 and the doodles (bench/make_doodles.py), 10 and 40 training pictures per class, 100
validation pictures per class; each seed draws other training pictures. Every run is `python -m tlcore
train` in a fresh studio home (its whole process timed, feature passes included), at 128 px, the studio's
defaults otherwise. The two sides run one after the other on the same data, so the machine's drift falls
on both. Prints one JSON line per run, then the markdown table (kept as bench/out/norm_statistics.md).

    nice -n 5 python bench/norm_statistics.py [--sets 5,6,7,8,9/doodles] [--backbones mobilenet_v2,efficientnet_lite0]
                                              [--sizes 10,40] [--seeds 0,1,2]
"""
import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOODLES, emit, engine_run, ensure_data, markdown_table, print_header, publish, spread  # noqa: E402

SIDES = {"ImageNet's statistics": 0, "adapted": 1}
SET_NAMES = {DOODLES: "doodles"}


def set_name(classes: str) -> str:
    return SET_NAMES.get(classes, f"Fashion-MNIST {classes}")


def measure(args) -> list[dict]:
    records = []
    for classes in args.sets.split("/"):
        for backbone in args.backbones.split(","):
            for size in [int(s) for s in args.sizes.split(",")]:
                for seed in [int(s) for s in args.seeds.split(",")]:
                    data = ensure_data(size, 100, seed=seed, classes=classes)
                    for side, adapt in SIDES.items():
                        result = engine_run(data, backbone=backbone, strategy="feature_extraction", epochs=None,
                                            image_size=args.image_size, device=args.device, seed=seed,
                                            extra=("--adapt-norm", adapt))
                        timings = result["timings"]
                        record = dict(set=set_name(classes), backbone=backbone, size=size, seed=seed, side=side,
                                      best=result["best_val_acc"], process_s=result["process_s"],
                                      features_s=timings.get("embedding_s"),
                                      statistics_s=timings.get("norm_statistics_s"))
                        emit(**record)
                        records.append(record)
    return records


def table(records: list[dict]) -> str:
    """One row per set, network and size: each side's accuracy, the change per seed, each side's seconds."""
    rows = []
    plain, adapted = SIDES
    for key in dict.fromkeys((r["set"], r["backbone"], r["size"]) for r in records):
        pick = [r for r in records if (r["set"], r["backbone"], r["size"]) == key]
        by_seed = {side: {r["seed"]: r for r in pick if r["side"] == side} for side in SIDES}
        changes = [by_seed[adapted][s]["best"] - by_seed[plain][s]["best"]
                   for s in by_seed[plain] if s in by_seed[adapted]]
        rows.append([*key, spread(r["best"] for r in by_seed[plain].values()),
                     spread(r["best"] for r in by_seed[adapted].values()),
                     f"{statistics.mean(changes):+.3f} ({sum(c > 0 for c in changes)} up, "
                     f"{sum(c < 0 for c in changes)} down)",
                     f"{statistics.median(r['process_s'] for r in by_seed[plain].values()):.1f}",
                     f"{statistics.median(r['process_s'] for r in by_seed[adapted].values()):.1f}"])
    headers = ["set", "network", "per class", f"accuracy, {plain}", f"accuracy, {adapted}", "change (seeds)",
               "seconds, ImageNet's", "seconds, adapted"]
    return markdown_table(headers, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=f"5,6,7,8,9/{DOODLES}", help="Fashion-MNIST classes or doodles, /-separated")
    parser.add_argument("--backbones", default="mobilenet_v2,efficientnet_lite0")
    parser.add_argument("--sizes", default="10,40")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print_header("Feature extraction with BatchNorm statistics adapted to the training pictures", args.device,
                 vars(args))
    records = measure(args)
    all_changes = [a["best"] - p["best"] for p in records if p["side"] == "ImageNet's statistics"
                   for a in records if a["side"] == "adapted"
                   and (a["set"], a["backbone"], a["size"], a["seed"]) == (p["set"], p["backbone"], p["size"], p["seed"])]
    text = [f"Best validation accuracy, mean (range) over seeds {args.seeds}, {args.image_size} px, 100 validation "
            "pictures per class; change: adapted minus ImageNet's, mean over seeds (how many seeds it raised and "
            "lowered); seconds: the whole process, median over seeds (2 shared cores: noisy).",
            table(records),
            f"Over all {len(all_changes)} pairs: mean change {statistics.mean(all_changes):+.3f}, "
            f"{sum(c > 0 for c in all_changes)} up, {sum(c < 0 for c in all_changes)} down, "
            f"{sum(c == 0 for c in all_changes)} level."]
    publish("norm_statistics", "\n\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())

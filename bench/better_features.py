"""Issue 17: what varied copies of each picture (augmented features), test-time augmentation and class
balancing buy feature extraction, and what they cost.

Fashion-MNIST 5-9 (or --classes) at several training pictures per class, 100 validation pictures per
class; each seed draws other training pictures. Every run is `python -m tlcore train` in a fresh studio
home (its whole process timed, feature passes included), MobileNetV2 at 128 px, the studio's defaults
otherwise. Then an imbalanced set: one class with a fifth of the others' pictures, balancing on
("auto", which applies) against off, with that class's recall.

    python bench/better_features.py [--sizes 5,10,20,40] [--seeds 0,1,2] [--views 0,2,4,8] [--classes 5,6,7,8,9]
"""
import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOODLES, data_words, emit, engine_run, ensure_data, markdown_table, print_header, publish, spread  # noqa: E402

# The class made small in the imbalanced set: a hard one, where the imbalance hurts.
SMALL_CLASS = {DOODLES: "star"}
SMALL_CLASS_FMNIST = "shirt"
FITTED = "fitted head (logistic regression)"


def arms(views: list[int], fitted: bool) -> dict[str, tuple]:
    """name -> the train options of that side."""
    chosen = {f"{k} copies" if k else "defaults (no copies)": ("--augment-views", k) for k in views}
    chosen["defaults + TTA"] = ("--tta",)
    best = max(views)
    chosen[f"{best} copies + TTA"] = ("--augment-views", best, "--tta")
    if fitted:
        chosen[FITTED] = ("--head", "logistic")
        chosen[f"{FITTED} + {best} copies"] = ("--head", "logistic", "--augment-views", best)
    return chosen


def kept_recall(run_dir: Path, class_name: str) -> float:
    """The kept epoch's recall of one class, from the run's events."""
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    classes = next(e["classes"] for e in events if e["type"] == "dataset")
    best = json.loads((run_dir / "status.json").read_text())["best_epoch"]
    epoch = next(e for e in events if e.get("type") == "epoch" and e["epoch"] == best)
    return epoch["per_class"]["recall"][classes.index(class_name)]


def lopsided(data: Path, small: str, keep: int) -> Path:
    """A copy of a train/val folder whose class `small` keeps only `keep` training pictures."""
    copy = Path(tempfile.gettempdir()) / f"{data.name}-lopsided-{keep}"
    if not copy.exists():
        shutil.copytree(data, copy)
        for extra in sorted((copy / "train" / small).iterdir())[keep:]:
            extra.unlink()
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,10,20,40")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--views", default="0,2,4,8")
    parser.add_argument("--classes", default="5,6,7,8,9", help="Fashion-MNIST classes, or doodles")
    parser.add_argument("--fitted", action="store_true", help="add the sides with the solved head")
    parser.add_argument("--fitted-only", action="store_true", help="only the sides with the solved head")
    parser.add_argument("--no-balance", action="store_true", help="skip the imbalanced set")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    sizes, seeds = [int(s) for s in args.sizes.split(",")], [int(s) for s in args.seeds.split(",")]
    sides = arms([int(k) for k in args.views.split(",")], args.fitted or args.fitted_only)
    if args.fitted_only:
        sides = {name: options for name, options in sides.items() if name.startswith(FITTED)}
    small = SMALL_CLASS.get(args.classes, SMALL_CLASS_FMNIST)
    print_header("Augmented features, TTA and class balancing (feature extraction)", args.device, vars(args))
    records = []
    for seed in seeds:
        for size in sizes:
            data = ensure_data(size, 100, seed=seed, classes=args.classes)
            for name, options in sides.items():  # interleaved: the machine's drift falls on every side
                result = engine_run(data, backbone="mobilenet_v2", strategy="feature_extraction", epochs=None,
                                    image_size=args.image_size, device=args.device, seed=seed, extra=options)
                record = dict(side=name, size=size, seed=seed, best=result["best_val_acc"],
                              process_s=result["process_s"])
                emit(**record)
                records.append(record)
    header = ["side"] + [f"{size} per class" for size in sizes] + ["seconds at 40"]
    rows = [[name] + [spread(r["best"] for r in records if r["side"] == name and r["size"] == size)
                      for size in sizes]
            + [spread(r["process_s"] for r in records if r["side"] == name and r["size"] == max(sizes))]
            for name in sides]
    text = [f"Best validation accuracy, mean (range) over seeds {args.seeds}, {data_words(args.classes)}, "
            f"{args.image_size} px, 100 validation pictures per class; seconds: the whole process.",
            markdown_table(header, rows)]

    balance = []
    for seed in seeds if not args.no_balance else ():
        data = lopsided(ensure_data(40, 100, seed=seed, classes=args.classes), small, 8)
        for setting in ("auto", "off"):
            home = tempfile.mkdtemp(prefix="tlstudio-bench-home-")  # fresh, and kept until the run is read
            result = engine_run(data, backbone="mobilenet_v2", strategy="feature_extraction", epochs=None,
                                image_size=args.image_size, device=args.device, seed=seed, home=home,
                                extra=("--balance", setting))
            record = dict(balance=setting, seed=seed, best=result["best_val_acc"],
                          recall=kept_recall(Path(result["run_dir"]), small))
            shutil.rmtree(home, ignore_errors=True)
            emit(**record)
            balance.append(record)
    if balance:
        text.append(f"Imbalanced: 40 training pictures per class but 8 of '{small}'; balancing 'auto' (which "
                    "applies: 40 > 2 x 8) against 'off'.")
        text.append(markdown_table(["balancing", "accuracy", f"recall of '{small}'"], [
            [setting, spread(r["best"] for r in balance if r["balance"] == setting),
             spread(r["recall"] for r in balance if r["balance"] == setting)] for setting in ("auto", "off")]))
    publish("better_features" + ("" if args.classes == "5,6,7,8,9" else "_" + args.classes.replace(",", ""))
            + ("_fitted" if args.fitted_only else ""),
            "\n\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Issue 13: L2-SP against fine-tuning by data size, and DANN against fine-tuning and feature extraction
where the pictures change.

usage: .venv/bin/python bench/transfer_methods.py l2sp [--sizes 5,10,20,40] [--seeds 0,1,2] [--epochs 8] [--lr R]
           [--alpha A] [--strategies fine_tune,l2_sp]
       .venv/bin/python bench/transfer_methods.py dann [--shifts textured,inverted] [--seeds 0,1,2] [--epochs 8]
           [--strategies feature_extraction,fine_tune,domain_adaptation] [--dann-weight 1.0]

l2sp: Fashion-MNIST classes 5-9 (bench/make_fmnist.py): N training pictures per class from the
training split, 100 validation pictures per class from the test split, drawn with the seed. Both
strategies: MobileNetV2, 128 px, 5 head epochs on cached features then --epochs body epochs, early
stopping off (equal epochs), the same seed. Reported per run: the accuracy of the model each saves
(best validation epoch), the epoch and phase it came from, and ||w - w0|| over the body at the end
(final_body_distance) and for the kept model (body_distance). --lr sets the body phase's head rate
(the body's is a tenth of it) for both strategies, e.g. 0.003 for a body that moves ten times faster
than the studio's default (0.0003), the regime where an anchor has something to hold back.

dann: tlcore.data.samples.install_domain_pair: 40 training and 100 validation pictures per class
of the same five classes (the studio's own Fashion-MNIST draw, 28 px, not the l2sp folders above),
and 100 pictures per class of the same classes from Fashion-MNIST's training split (none
of them a source picture) with the shift applied, as the target. Every strategy trains on the
same source pictures with the target given (--target): domain_adaptation trains on its pictures
without labels; all report accuracy on it (best_target_acc: the kept model's, chosen on source
validation; final_target_acc: the last epoch's). Feature extraction gets 5 + epochs head epochs.

Each run is `python -m tlcore train ... --quiet` in its own process; one studio home per data set
and seed, so the decoded pictures and features are shared by the strategies compared on it.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from common import OUT, emit, engine_run, ensure_fmnist, markdown_table, print_header, spread
from tlcore.runs import RunFolder

HOMES = Path(tempfile.gettempdir()) / "tlstudio-bench-transfer-methods"


def l2sp(args) -> list[dict]:
    records = []
    for size in args.sizes:
        for seed in args.seeds:
            data = ensure_fmnist(train_per_class=size, val_per_class=100, seed=seed)
            home = HOMES / f"fmnist-{size}-s{seed}"
            extra = ("--early-stop", 0, *(("--lr", args.lr) if args.lr else ()))
            for strategy in args.strategies:
                anchor = ("--l2sp-alpha", args.alpha) if strategy == "l2_sp" and args.alpha is not None else ()
                result = engine_run(data, backbone="mobilenet_v2", strategy=strategy, epochs=args.epochs,
                                    image_size=128, device=args.device, seed=seed, home=home,
                                    extra=(*extra, *anchor))
                record = dict(item="l2sp", strategy=strategy, per_class=size, seed=seed, lr=args.lr,
                              alpha=args.alpha, **pick(result))
                emit(**record)
                records.append(record)
    return records


def dann(args) -> list[dict]:
    records = []
    for shift in args.shifts:
        for seed in args.seeds:
            home = HOMES / f"pair-{shift}-s{seed}"
            source, target = domain_pair(shift, seed, home)
            for strategy in args.strategies:
                epochs = args.epochs + 5 if strategy == "feature_extraction" else args.epochs
                extra = ["--target", target, "--early-stop", 0]
                if strategy == "domain_adaptation":
                    extra += ["--dann-weight", args.dann_weight]
                result = engine_run(source, backbone="mobilenet_v2", strategy=strategy, epochs=epochs,
                                    image_size=128, device=args.device, seed=seed, home=home, extra=extra)
                record = dict(item="dann", strategy=strategy, shift=shift, seed=seed,
                              dann_weight=args.dann_weight if strategy == "domain_adaptation" else None,
                              domain_acc=last_domain_acc(result["run_dir"]), **pick(result))
                emit(**record)
                records.append(record)
    return records


def domain_pair(shift: str, seed: int, home: Path) -> tuple[str, str]:
    """The pair made in the studio home the runs use (its data folder), once."""
    os.environ["TLSTUDIO_HOME"] = str(home)
    from tlcore.data.samples import install_domain_pair

    source, target = install_domain_pair(shift, seed=seed)
    return str(source), str(target)


def pick(result: dict) -> dict:
    status = json.loads((Path(result["run_dir"]) / "status.json").read_text())
    keys = ("best_val_acc", "final_val_acc", "best_epoch", "best_phase", "epochs_run", "body_distance",
            "final_body_distance", "best_target_acc", "final_target_acc", "wall_s")
    return {key: status.get(key) for key in keys} | {"process_s": result["process_s"]}


def last_domain_acc(run_dir: str) -> float | None:
    values = [e["domain_acc"] for e in RunFolder(Path(run_dir)).read_events()[0] if e["type"] == "epoch" and "domain_acc" in e]
    return values[-1] if values else None


def l2sp_table(records: list[dict]) -> str:
    rows = []
    for size in sorted({r["per_class"] for r in records}):
        for strategy in dict.fromkeys(r["strategy"] for r in records):
            mine = [r for r in records if r["per_class"] == size and r["strategy"] == strategy]
            kept_from = ", ".join(f"{r['best_phase']} {r['best_epoch']}" for r in mine)
            rows.append([size, strategy, spread(r["best_val_acc"] for r in mine), kept_from,
                         spread(r["final_val_acc"] for r in mine), spread(r["final_body_distance"] for r in mine),
                         spread(r["body_distance"] for r in mine)])
    return markdown_table(["pictures per class", "strategy", "kept model's val acc, mean (range)",
                           "kept from (phase epoch), per seed", "last epoch's val acc", "||w - w0|| at the end",
                           "||w - w0|| of the kept model"], rows)


def dann_table(records: list[dict]) -> str:
    rows = []
    for shift in sorted({r["shift"] for r in records}):
        for strategy in dict.fromkeys(r["strategy"] for r in records):
            mine = [r for r in records if r["shift"] == shift and r["strategy"] == strategy]
            if mine:
                rows.append([shift, strategy, spread(r["best_val_acc"] for r in mine),
                             spread(r["best_target_acc"] for r in mine), spread(r["final_target_acc"] for r in mine),
                             spread(r["domain_acc"] for r in mine)])
    return markdown_table(["shift", "strategy", "source val acc (kept)", "target acc (kept model)",
                           "target acc (last epoch)", "domain classifier acc (last epoch)"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("l2sp", "dann"))
    parser.add_argument("--sizes", default="5,10,20,40")
    parser.add_argument("--shifts", default="textured,inverted")
    parser.add_argument("--strategies", help="default: fine_tune,l2_sp for l2sp; "
                        "feature_extraction,fine_tune,domain_adaptation for dann")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=8, help="body epochs after the 5 head epochs")
    parser.add_argument("--dann-weight", type=float, default=1.0)
    parser.add_argument("--alpha", type=float, default=None, help="l2sp: L2-SP alpha (default: the studio's)")
    parser.add_argument("--lr", type=float, default=None, help="l2sp: the body phase's head rate (default: the studio's)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.shifts = args.shifts.split(",")
    args.strategies = (args.strategies or ("fine_tune,l2_sp" if args.which == "l2sp" else
                                           "feature_extraction,fine_tune,domain_adaptation")).split(",")
    print_header(f"Issue 13: {args.which}", args.device, vars(args))
    records = l2sp(args) if args.which == "l2sp" else dann(args)
    table = l2sp_table(records) if args.which == "l2sp" else dann_table(records)
    print(table)
    OUT.mkdir(exist_ok=True)
    if args.which == "l2sp":
        suffix = (f"_lr{args.lr:g}" if args.lr else "") + (f"_alpha{args.alpha:g}" if args.alpha is not None else "")
    else:
        suffix = f"_weight{args.dann_weight:g}" if args.dann_weight != 1.0 else ""
    (OUT / f"transfer_methods_{args.which}{suffix}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Why the body epochs of fine-tuning can score below its warm-up: one setting changed at a time.

Fashion-MNIST 5-9, 40 training pictures per class, 128 px, MobileNetV2, `fine_tune` (a head warm-up
on cached features, then body epochs on pictures), 3 seeds. For every variant: the warm-up's last
validation accuracy, each body epoch's, the kept model's and the phase it comes from.

Settings the CLI does not expose (the body's share of the learning rate, BatchNorm statistics) are
changed in a child process that patches the strategy module before `python -m tlcore train` runs;
the patch touches only what the variant names.

    python bench/fine_tune_study.py [--seeds 0,1,2] [--variants default,no_augment,...] [--classes 0,2,3,4,6]
"""
import argparse
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, data_words, emit, ensure_data, markdown_table, print_header, publish, run_json, spread  # noqa: E402

# name -> (what it changes, in words; extra CLI options; patches applied in the child)
VARIANTS = {
    "default": ("the studio's defaults (head 3e-4, body 3e-5, augmentation, BatchNorm frozen, 3 epochs)", [], {}),
    "no_augment": ("no augmentation in the body epochs", ["--no-augment"], {}),
    "lr_x10": ("ten times the rates (head 3e-3, body 3e-4)", ["--lr", "3e-3"], {}),
    "body_as_head": ("the body at the head's rate (3e-4 both)", [], {"body_factor": 1.0}),
    "lr_1e-3_equal": ("1e-3 for head and body", ["--lr", "1e-3"], {"body_factor": 1.0}),
    "bn_train": ("BatchNorm statistics re-estimated", [], {"bn_train": True}),
    "light_augment": ("lighter crops: at least 85% of the picture (60% by default)", [], {"min_scale": 0.85}),
    "flip_augment": ("flips and a slight change of aspect only, no crops", [], {"min_scale": 1.0}),
    "warmup": ("the rates climb over the first 30% of the body's steps (one-cycle)", [], {"warmup": 0.3}),
    "warmup_lr_x10": ("one-cycle warm-up, ten times the rates", ["--lr", "3e-3"], {"warmup": 0.3}),
    "warmup_lr_x3_light": ("one-cycle warm-up, three times the rates, lighter crops", ["--lr", "1e-3"],
                           {"warmup": 0.3, "min_scale": 0.85}),
    "sgd": ("SGD with momentum for the body epochs (head 1e-2, body 1e-3)", ["--lr", "1e-2"], {"sgd": True}),
    "sgd_no_augment": ("SGD, no augmentation", ["--lr", "1e-2", "--no-augment"], {"sgd": True}),
    "no_augment_epochs_10": ("no augmentation, 10 body epochs", ["--no-augment", "--epochs", "10"], {}),
    "epochs_10": ("10 body epochs", ["--epochs", "10"], {}),
    "fitted_warm_up": ("the warm-up solved (logistic regression, L2 by cross-validation)", ["--head", "logistic"], {}),
    "fitted_no_augment_epochs_10": ("solved warm-up, no augmentation, 10 body epochs",
                                    ["--head", "logistic", "--no-augment", "--epochs", "10"], {}),
    "lr_x10_epochs_10": ("ten times the rates and 10 body epochs", ["--lr", "3e-3", "--epochs", "10"], {}),
}


def child(patches: dict, argv: list[str]) -> None:
    """Apply the variant's patches, then run the CLI in this process."""
    from tlcore.training import strategies

    if "min_scale" in patches:
        from tlcore.data import batches

        batches.augment.__defaults__ = (patches["min_scale"],)
    if "body_factor" in patches:
        strategies.BODY_LR_FACTOR = patches["body_factor"]
    if patches.get("bn_train") or "warmup" in patches or patches.get("sgd"):
        original = strategies.body_phase

        def body_phase(*args, **kwargs):
            phase = original(*args, **kwargs)
            phase.freeze_norm_stats = not patches.get("bn_train")
            phase.warmup = patches.get("warmup", phase.warmup)
            phase.optimizer = "sgd" if patches.get("sgd") else phase.optimizer
            return phase

        strategies.body_phase = body_phase
    sys.argv = ["tlcore", *argv]
    runpy.run_module("tlcore", run_name="__main__", alter_sys=True)


def epochs_of(run_dir: Path) -> list[dict]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e.get("type") == "epoch"]


def one_run(data: Path, variant: str, seed: int, device: str) -> dict:
    _, extra, patches = VARIANTS[variant]
    with tempfile.TemporaryDirectory(prefix="tlstudio-study-home-") as home:
        env = dict(os.environ, TLSTUDIO_HOME=home)
        argv = ["train", str(data), "--strategy", "fine_tune", "--image-size", "128", "--seed", str(seed),
                "--quiet", "--device", device, *extra]
        result = run_json([sys.executable, __file__, "--child", json.dumps(patches), "--", *argv], env)
        epochs = epochs_of(Path(result["run_dir"]))
    head = [e["val_acc"] for e in epochs if e["phase"] == "head"]
    body = [e["val_acc"] for e in epochs if e["phase"] == "body"]
    record = dict(variant=variant, seed=seed, warm_up=max(head), body=body, best=result["best_val_acc"],
                  best_phase=result["best_phase"], final=body[-1], body_best=max(body),
                  gain=round(max(body) - max(head), 4), process_s=result["process_s"])
    emit(**record)
    return record


def main() -> int:
    if "--child" in sys.argv:
        at = sys.argv.index("--child")
        child(json.loads(sys.argv[at + 1]), sys.argv[sys.argv.index("--") + 1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--classes", default="5,6,7,8,9",
                        help="Fashion-MNIST classes (0,2,3,4,6: the upper-body garments), or doodles")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    print_header("Fine-tuning: why the body epochs score below the warm-up", args.device, vars(args))
    data = ensure_data(40, 100, classes=args.classes)
    records = [one_run(data, variant, seed, args.device) for seed in seeds for variant in variants]  # interleaved
    rows = []
    for variant in variants:
        mine = [r for r in records if r["variant"] == variant]
        rows.append([variant, VARIANTS[variant][0], spread(r["warm_up"] for r in mine),
                     spread(r["body_best"] for r in mine), spread(r["final"] for r in mine),
                     spread(r["gain"] for r in mine),
                     f"{sum(r['best_phase'] == 'body' for r in mine)} of {len(mine)}",
                     spread(r["process_s"] for r in mine)])
    publish("fine_tune_study" + ("" if args.classes == "5,6,7,8,9" else "_" + args.classes.replace(",", "")),
            f"{data_words(args.classes)}, 40 training and 100 validation pictures per class\n\n" + markdown_table(
        ["variant", "what changes", "warm-up (best head epoch)", "best body epoch", "last body epoch",
         "body best minus warm-up", "kept model from the body", "seconds"], rows))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())

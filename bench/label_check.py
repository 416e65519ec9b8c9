#!/usr/bin/env python3
"""Issue 16: "Check the labels" on pictures whose labels were flipped on purpose.

usage: .venv/bin/python bench/label_check.py [--seeds 0,1,2] [--flip 0.1]

Fashion-MNIST 5-9, 40 training pictures per class (200), --flip of them moved to another class folder
at random (their label flipped), 100 clean validation pictures per class. `python -m tlcore
check-labels` on the training folder (MobileNetV2 features at 128 px, 5-fold logistic regression,
cleanlab): precision and recall of the top 10% it flags (the most suspicious first) against the
flipped pictures, and its seconds (whole process, fresh studio home). Then feature extraction with
the studio's defaults on the noisy training pictures and on them without the flagged top 10%,
accuracy on the clean validation pictures. Writes bench/out/label_check.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import emit, engine_run, ensure_fmnist, markdown_table, print_header, publish, spread

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.gettempdir()) / "tlstudio-bench-label-check"


def noisy_copy(clean: Path, dest: Path, flip: float, seed: int) -> set[str]:
    """A copy of clean (train/ and val/) with a share of the training pictures moved to another class;
    returns the moved pictures' new paths."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(clean, dest)
    rng = np.random.default_rng(seed)
    classes = sorted(p.name for p in (dest / "train").iterdir())
    pictures = sorted((dest / "train").glob("*/*.png"))
    moved = set()
    for path in rng.choice(pictures, int(round(flip * len(pictures))), replace=False):
        other = rng.choice([c for c in classes if c != path.parent.name])
        target = dest / "train" / other / f"flipped-{path.name}"
        path.rename(target)
        moved.add(str(target.resolve()))
    return moved


def check(folder: Path) -> tuple[list[dict], dict, float]:
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-labels-") as home:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tlcore", "check-labels", str(folder)], cwd=ROOT,
                              env=dict(os.environ, TLSTUDIO_HOME=home), capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return lines[:-1], lines[-1], seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--flip", type=float, default=0.1)
    args = parser.parse_args()
    print_header("Issue 16: checking labels with flipped ones", "cpu", vars(args))
    records = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        folder = WORK / f"noisy-s{seed}"
        moved = noisy_copy(ensure_fmnist(40, 100, seed=seed), folder, args.flip, seed)
        suspects, summary, seconds = check(folder / "train")
        top = suspects[:len(moved)]  # the top 10% of the pictures, as many as were flipped
        caught = sum(s["path"] in moved for s in top)
        before = engine_run(folder, backbone="mobilenet_v2", strategy="feature_extraction", epochs=None,
                            image_size=128, seed=seed)
        cleaned = WORK / f"cleaned-s{seed}"
        shutil.rmtree(cleaned, ignore_errors=True)
        shutil.copytree(folder, cleaned)
        for s in top:
            (cleaned / Path(s["path"]).relative_to(folder)).unlink()
        after = engine_run(cleaned, backbone="mobilenet_v2", strategy="feature_extraction", epochs=None,
                           image_size=128, seed=seed)
        record = dict(seed=seed, flipped=len(moved), flagged=summary["flagged"],
                      precision=caught / max(len(top), 1), recall=caught / len(moved),
                      flagged_precision=sum(s["path"] in moved for s in suspects) / max(len(suspects), 1),
                      flagged_recall=sum(s["path"] in moved for s in suspects) / len(moved),
                      check_s=round(seconds, 1), inside_s=summary["seconds"],
                      acc_before=before["best_val_acc"], acc_after=after["best_val_acc"])
        emit(**record)
        records.append(record)
    rows = [[name, spread(r[key] for r in records)] for name, key in [
        ("precision of the top 10% (flipped among them)", "precision"),
        ("recall of the top 10% (flipped ones found)", "recall"),
        ("all flagged: how many", "flagged"), ("all flagged: precision", "flagged_precision"),
        ("all flagged: recall", "flagged_recall"),
        ("seconds, whole process (fresh home)", "check_s"), ("seconds, the check itself", "inside_s"),
        ("accuracy, trained on the noisy labels", "acc_before"),
        ("accuracy, without the flagged top 10%", "acc_after")]]
    table = markdown_table(["Fashion-MNIST 5-9, 200 training pictures, 10% flipped, 3 seeds", "mean (range)"], rows)
    publish("label_check", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

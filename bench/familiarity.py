#!/usr/bin/env python3
"""Answers that know when they don't know: calibration and "none of these", through the studio's own path.

usage: .venv/bin/python bench/familiarity.py [--seeds 0,1,2] [--sets fmnist,doodles] [--strategy feature_extraction]

For each set and seed: train (`python -m tlcore train`, the default settings) on the known classes, 40
training and 40 validation pictures each; then ask the run's Predictor (tlcore.serve.predictor) about
200 more pictures of each known class, never seen by the run, and 200 of each unknown class.
  - fmnist: Fashion-MNIST, known T-shirt, trouser, pullover, dress, coat; unknown sandal, shirt, sneaker,
    bag, ankle boot.
  - doodles: bench/make_doodles.py's drawings, known spiral, zigzag, star; unknown house, smiley, arrow.
Printed per run: accuracy on the new known pictures; expected calibration error (15 bins) on them with
the raw probabilities and after the run's temperature; how well the familiarity score and the top
probability tell known from unknown (AUROC); at the studio's default threshold, the share of unknown
pictures answered "none of these" and of known pictures wrongly so.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import BENCH, emit, engine_run, markdown_table, median, print_header, publish

from sklearn.metrics import roc_auc_score

from tlcore.data.picture_file import load_rgb, resize_center_crop
from tlcore.serve.predictor import Predictor
from tlcore.training.calibration import calibration_error, softmax

SETS = {"fmnist": ("make_fmnist.py", "0,1,2,3,4", "5,6,7,8,9"),
        "doodles": ("make_doodles.py", "spiral,zigzag,star", "house,smiley,arrow")}
TRAIN, VAL, ASKED = 40, 40, 200


def make_sets(name: str, seed: int, root: Path) -> tuple[Path, Path, Path]:
    """(the run's dataset with train/ and val/, new known pictures, unknown pictures)."""
    script, known, unknown = SETS[name]
    made = root / f"{name}-s{seed}"
    if not (made / "dataset" / "val").exists():
        for part, classes, train, val in (("known", known, TRAIN, VAL + ASKED), ("unknown", unknown, 1, ASKED)):
            subprocess.run([sys.executable, BENCH / script, made / part, "--classes", classes,
                            "--train-per-class", str(train), "--val-per-class", str(val), "--seed", str(seed)],
                           check=True, capture_output=True)
        for folder in sorted((made / "known" / "val").iterdir()):  # the first VAL to the run, the rest asked
            files = sorted(folder.iterdir())
            for split, chosen in (("val", files[:VAL]), ("asked", files[VAL:])):
                (made / "dataset" / split / folder.name).mkdir(parents=True, exist_ok=True)
                for path in chosen:
                    shutil.copy(path, made / "dataset" / split / folder.name / path.name)
        shutil.copytree(made / "known" / "train", made / "dataset" / "train")
        shutil.move(made / "dataset" / "asked", made / "asked")
    return made / "dataset", made / "asked", made / "unknown" / "val"


def pictures(folder: Path, size: int) -> tuple[np.ndarray, list[str]]:
    files = sorted(folder.glob("*/*.png"))
    return np.stack([resize_center_crop(load_rgb(f), size) for f in files]), [f.parent.name for f in files]


def answers(predictor: Predictor, images: np.ndarray):
    """(raw logits, scaled logits, familiarity) of each picture, in batches."""
    import torch
    from tlcore.data.batches import to_model_input

    raw, familiar = [], []
    with torch.inference_mode():
        for start in range(0, len(images), 100):
            x = to_model_input(torch.from_numpy(images[start:start + 100]), predictor.spec.mean, predictor.spec.std,
                               torch.device("cpu"))
            logits, known = predictor.model(x)
            raw.append(logits.numpy() * predictor.temperature)
            familiar.append(known.numpy())
    raw = np.concatenate(raw)
    return raw, raw / predictor.temperature, np.concatenate(familiar)


def measure(name: str, seed: int, strategy: str, root: Path) -> dict:
    dataset, asked, unknown = make_sets(name, seed, root)
    run = engine_run(dataset, backbone="mobilenet_v2", strategy=strategy, epochs=None, image_size=128, seed=seed,
                     home=root / "home")
    predictor = Predictor(Path(run["run_dir"]))
    known_images, known_names = pictures(asked, predictor.image_size)
    unknown_images, _ = pictures(unknown, predictor.image_size)
    labels = np.array([predictor.labels.index(n) for n in known_names])
    raw, scaled, familiar = answers(predictor, known_images)
    _, unknown_scaled, unknown_familiar = answers(predictor, unknown_images)
    is_known = np.r_[np.ones(len(known_images)), np.zeros(len(unknown_images))]
    top = np.r_[softmax(scaled).max(1), softmax(unknown_scaled).max(1)]
    threshold = predictor.familiar_threshold
    return dict(set=name, seed=seed, strategy=strategy, accuracy=round(float((raw.argmax(1) == labels).mean()), 4),
                run_s=run["process_s"], temperature=round(predictor.temperature, 3),
                ece_raw=round(calibration_error(softmax(raw), labels), 4),
                ece_scaled=round(calibration_error(softmax(scaled), labels), 4),
                auroc_familiar=round(roc_auc_score(is_known, np.r_[familiar, unknown_familiar]), 4),
                auroc_top_probability=round(roc_auc_score(is_known, top), 4),
                unknown_refused=round(float((unknown_familiar < threshold).mean()), 4),
                known_refused=round(float((familiar < threshold).mean()), 4), threshold=threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sets", default="fmnist,doodles")
    parser.add_argument("--strategy", default="feature_extraction")
    args = parser.parse_args()
    print_header("Calibration and 'none of these'", settings=vars(args))
    root = Path(tempfile.gettempdir()) / "tlstudio-bench-familiarity"
    rows = []
    for name in args.sets.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            result = measure(name, seed, args.strategy, root)
            emit(**result)
            rows.append(result)
    keys = ("accuracy", "ece_raw", "ece_scaled", "auroc_top_probability", "auroc_familiar", "unknown_refused",
            "known_refused", "run_s")
    table = [[name, len([r for r in rows if r["set"] == name]),
              *[median([r[k] for r in rows if r["set"] == name]) for k in keys]] for name in args.sets.split(",")]
    publish(f"familiarity-{args.strategy}", markdown_table(
        ["set", "seeds", "accuracy", "ECE raw", "ECE scaled", "AUROC top probability", "AUROC familiarity",
         "unknown answered none", "known answered none", "run s"], table))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The engine's strategies against the hand-written loops a user would write, measured in one run.

usage: .venv/bin/python bench/transfer_vs_reference.py [--repeats 3] [--image-size 128] [--ft-epochs 3]

Data: Fashion-MNIST classes 5-9, 40 train / 100 val per class (bench/make_fmnist.py, from Debian's
dataset-fashion-mnist). Each engine run starts from an empty studio home, so its wall time includes
decoding the images, loading the weights and computing embeddings: nothing is cached between runs.
Prints one JSON line per measurement, then a markdown table of medians and ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def run_json(cmd, env=None) -> dict:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - started, 2)
    return result


def reference(data, mode, epochs, image_size, lr=None):
    cmd = [sys.executable, BENCH / "reference_loop.py", data, "--mode", mode, "--epochs", str(epochs),
           "--image-size", str(image_size)] + (["--lr", str(lr)] if lr else [])
    return run_json(list(map(str, cmd)))


def engine(data, strategy, epochs, image_size, backbone="mobilenet_v2"):
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, TLSTUDIO_HOME=home)
        cmd = [sys.executable, "-m", "tlcore", "train", data, "--backbone", backbone, "--strategy", strategy,
               "--epochs", str(epochs), "--image-size", str(image_size), "--quiet"]
        return run_json(list(map(str, cmd)), env)


def ensure_data(path: Path) -> Path:
    if not (path / "train").exists():
        subprocess.run([sys.executable, BENCH / "make_fmnist.py", path, "--classes", "5,6,7,8,9",
                        "--train-per-class", "40", "--val-per-class", "100"], check=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "tlstudio-bench-fmnist"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--fe-epochs", type=int, default=10)
    parser.add_argument("--ft-epochs", type=int, default=3)
    args = parser.parse_args()
    data = str(ensure_data(Path(args.data)))
    rows = {key: [] for key in ("ref_feature", "fe", "ref_finetune", "ft")}
    for repeat in range(args.repeats):
        # Interleaved, so that a noisy neighbour slows both sides of a ratio alike.
        rows["ref_feature"].append(reference(data, "feature", args.fe_epochs, args.image_size))
        rows["fe"].append(engine(data, "feature_extraction", args.fe_epochs, args.image_size))
        rows["ref_finetune"].append(reference(data, "finetune", args.ft_epochs, args.image_size, lr=1e-4))
        rows["ft"].append(engine(data, "fine_tune", args.ft_epochs, args.image_size))
        for key, values in rows.items():
            print(json.dumps({"repeat": repeat, "what": key, **values[-1]}), flush=True)

    median = lambda key, field: statistics.median(r[field] for r in rows[key])
    fe_ratio = median("ref_feature", "wall_s") / median("fe", "wall_s")
    ft_ratio = median("ref_finetune", "wall_s") / median("ft", "wall_s")
    print()
    print(f"| what | wall s (median of {args.repeats}) | best val acc (median) | speed vs reference |")
    print("|---|---|---|---|")
    print(f"| reference loop, `--mode feature`, {args.fe_epochs} epochs | {median('ref_feature', 'wall_s'):.1f} | "
          f"{median('ref_feature', 'best_val_acc'):.3f} | 1x |")
    print(f"| engine `feature_extraction`, {args.fe_epochs} epochs | {median('fe', 'wall_s'):.1f} | "
          f"{median('fe', 'best_val_acc'):.3f} | {fe_ratio:.1f}x faster |")
    print(f"| reference loop, `--mode finetune --lr 1e-4`, {args.ft_epochs} epochs | "
          f"{median('ref_finetune', 'wall_s'):.1f} | {median('ref_finetune', 'best_val_acc'):.3f} | 1x |")
    print(f"| engine `fine_tune`, {args.ft_epochs} epochs (after 5 head epochs on cached features) | "
          f"{median('ft', 'wall_s'):.1f} | {median('ft', 'best_val_acc'):.3f} | {ft_ratio:.2f}x |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Issue 17: fine-tuning on three sides, as an expert would compare them.

usage: .venv/bin/python bench/fine_tune_sides.py [--classes 5,6,7,8,9] [--size 40] [--seeds 0,1,2]

MobileNetV2, ImageNet's V1 weights, 128 px, the same pictures on every side (40 per class drawn by
the seed, 100 validation pictures per class), interleaved by seed, each side a whole process:
  naive     bench/reference_loop.py --mode finetune: every parameter trains from the first epoch
            (Adam, lr 1e-4, no augmentation), for as many epochs as the studio's body epochs;
  fastai    fastai 2.8 `fine_tune(N)`: one frozen epoch, then N unfrozen (its defaults, aug_transforms);
  studio    `python -m tlcore train DATA --strategy fine_tune` with its defaults (head warm-up on cached
            features, then N body epochs).
For each: best and final validation accuracy, where the studio's kept model comes from (its phase and
epoch), whole-process seconds, and training-step images/s of the epochs that train the body
(validation apart), also as GFLOP/s against the measured dense-convolution peak: a training step is
counted as 3x the forward pass's FLOPs (forward, and a backward pass about twice as costly), so the
share is an estimate; the same estimate on every side.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (BENCH, conv_peak_gflops, cpu_threads, data_words, emit, engine_run, ensure_data,  # noqa: E402
                    markdown_table, print_header, publish, reference_run, run_json, spread)
from versus_fastai import fastai_python, studio_body_epochs  # noqa: E402

IMAGE_SIZE = 128


def training_gflops_per_image() -> float:
    """FLOPs of one training step per picture: 3x the forward's 2 x multiply-adds, at IMAGE_SIZE."""
    from tlcore.models.backbones import get_spec

    return 3 * 2 * get_spec("mobilenet_v2").gflops * (IMAGE_SIZE / 224) ** 2


def sides(python: Path, data: Path, seed: int, body_epochs: int) -> dict[str, dict]:
    naive = reference_run(data, mode="finetune", epochs=body_epochs, image_size=IMAGE_SIZE, lr=1e-4)
    naive["body_images_per_s"] = naive["train_images_per_s"]
    batch = 32
    fastai = run_json([python, BENCH / "fastai_side.py", data, "--mode", "fine_tune", "--epochs", body_epochs,
                       "--image-size", IMAGE_SIZE, "--seed", seed, "--batch-size", batch, "--threads", cpu_threads()])
    fastai["body_images_per_s"] = fastai["body_train_images_per_s"]
    studio = engine_run(data, backbone="mobilenet_v2", strategy="fine_tune", epochs=None, image_size=IMAGE_SIZE,
                        device="cpu", seed=seed)
    body = studio["phases"].get("body", {})
    studio["body_images_per_s"] = (round(body["train_size"] * body["epochs"] / body["train_s"], 1)
                                   if body.get("train_s") else None)
    studio["kept"] = f"{studio['best_phase']} epoch {studio['best_epoch']}"
    return {"naive loop": naive, "fastai fine_tune": fastai, "studio fine-tuning": studio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="5,6,7,8,9")
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    python = fastai_python()
    print_header("Fine-tuning on three sides", "cpu", vars(args))
    body_epochs = studio_body_epochs()
    peak = conv_peak_gflops("cpu")
    per_image = training_gflops_per_image()
    emit(item="yardstick", conv_peak_gflops=round(peak, 1), training_gflops_per_image=round(per_image, 4))
    records = []
    for seed in (int(s) for s in args.seeds.split(",")):
        data = ensure_data(args.size, 100, seed=seed, classes=args.classes)
        for side, result in sides(python, data, seed, body_epochs).items():
            record = dict(seed=seed, side=side, best=result["best_val_acc"], final=result.get("final_val_acc"),
                          process_s=result["process_s"], body_images_per_s=result["body_images_per_s"],
                          kept=result.get("kept"))
            emit(**record)
            records.append(record)
    rows = []
    for side in dict.fromkeys(r["side"] for r in records):
        mine = [r for r in records if r["side"] == side]
        rates = [r["body_images_per_s"] for r in mine if r["body_images_per_s"]]
        share = f"{100 * (sum(rates) / len(rates)) * per_image / peak:.0f}%" if rates else "—"
        rows.append([side, spread(r["best"] for r in mine), spread(r["final"] for r in mine),
                     spread(r["process_s"] for r in mine), spread(rates) if rates else "—", share,
                     "; ".join(r["kept"] for r in mine if r["kept"]) or "—"])
    text = (f"{data_words(args.classes)}, {args.size} per class, {body_epochs} body epochs, seeds {args.seeds}; "
            f"mean (range). Dense-convolution peak {peak:.0f} GFLOP/s; a training step counted as "
            f"{per_image:.3f} GFLOP per picture.\n\n" +
            markdown_table(["side", "best", "final", "whole process s", "body training images/s",
                            "of conv peak", "studio's kept model"], rows))
    publish("fine_tune_sides", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""fastai's side of the comparison, run in fastai's own environment (bench/versus_fastai.py makes it).

What an expert writes with fastai: vision_learner on the same architecture and the same ImageNet
weights file the studio uses (torchvision's, from the torch hub cache), fastai's usual augmentation
(aug_transforms), then either the frozen body with fit_one_cycle(N) or fine_tune(N) with its defaults.
Prints one JSON line: best and final validation accuracy, seconds of training steps and of validation.

    python fastai_side.py DATA --mode frozen|fine_tune --epochs N [--image-size 128] [--seed 0] [--threads 2]
"""
import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--mode", choices=("frozen", "fine_tune"), required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    from fastai.callback.core import Callback
    from fastai.vision.all import (ImageDataLoaders, Resize, accuracy, aug_transforms, default_split, imagenet_stats,
                                   model_meta, set_seed, vision_learner)
    from torchvision.models import mobilenet_v2

    # fastai knows no MobileNetV2: its body is `features` (cut -1, as in the studio), ImageNet's V1 weights
    # (torchvision's file in the hub cache, the one the studio loads) and statistics.
    model_meta[mobilenet_v2] = {"cut": -1, "split": default_split, "stats": imagenet_stats,
                                "weights": "IMAGENET1K_V1"}

    torch.set_num_threads(args.threads)
    set_seed(args.seed, reproducible=True)

    class StepTimer(Callback):
        """Seconds spent in training batches and in validation, apart."""

        order = 0

        def before_fit(self):
            self.times = {"train": 0.0, "valid": 0.0}
            self.images = 0
            self.epochs = []  # (training seconds, training images) per epoch, frozen and unfrozen apart

        def before_epoch(self):
            self.epoch_started = (self.times["train"], self.images)

        def after_epoch(self):
            self.epochs.append((self.times["train"] - self.epoch_started[0], self.images - self.epoch_started[1]))

        def before_batch(self):
            self.started = time.perf_counter()

        def after_batch(self):
            kind = "train" if self.training else "valid"
            self.times[kind] += time.perf_counter() - self.started
            if self.training:
                self.images += len(self.yb[0])

    dls = ImageDataLoaders.from_folder(args.data, train="train", valid="val", item_tfms=Resize(args.image_size),
                                       batch_tfms=aug_transforms(size=args.image_size), bs=args.batch_size,
                                       num_workers=0, seed=args.seed)
    learn = vision_learner(dls, mobilenet_v2, metrics=accuracy, pretrained=True)
    timer = StepTimer()
    learn.add_cb(timer)
    with learn.no_logging(), learn.no_bar():
        if args.mode == "frozen":
            learn.fit_one_cycle(args.epochs)
            history = [row[2] for row in learn.recorder.values]
        else:
            learn.fine_tune(args.epochs)  # one frozen epoch, then args.epochs unfrozen: fastai's defaults
            history = [row[2] for row in learn.recorder.values]
    print(json.dumps({"best_val_acc": round(float(max(history)), 5), "final_val_acc": round(float(history[-1]), 5),
                      "epochs": len(history), "train_s": round(timer.times["train"], 2),
                      "valid_s": round(timer.times["valid"], 2), "train_images": timer.images,
                      "train_images_per_s": round(timer.images / timer.times["train"], 1) if timer.times["train"] else 0,
                      "body_train_images_per_s": body_rate(timer.epochs, args.mode, args.epochs)}))


def body_rate(epochs: list[tuple[float, int]], mode: str, body_epochs: int) -> float | None:
    """Training images/s of the unfrozen epochs alone (fine_tune's last ones), None when frozen throughout."""
    if mode != "fine_tune":
        return None
    seconds, images = map(sum, zip(*epochs[-body_epochs:]))
    return round(images / seconds, 1) if seconds else None


if __name__ == "__main__":
    main()

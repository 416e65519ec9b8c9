#!/usr/bin/env python3
"""The quick combined check: feature extraction and fine-tuning against the hand-written loops, one run.

usage: .venv/bin/python bench/transfer_vs_reference.py [--repeats 3] [--image-size 128] [--fe-epochs 10]
           [--ft-epochs 3] [--backbone mobilenet_v2] [--device auto]

The measurements are those of bench/feature_extraction.py (item 1) and bench/fine_tune.py (item 2),
at one size and one backbone, interleaved per repeat: reference feature, engine feature_extraction,
reference finetune (--lr 1e-4), engine fine_tune. Data: Fashion-MNIST 5-9, 40 train / 100 val per
class. Every engine run starts from an empty studio home. Prints one JSON line per run, then tables.
"""
import argparse

import feature_extraction
import fine_tune
from common import ensure_fmnist, print_header, resolve_device


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--fe-epochs", type=int, default=10)
    parser.add_argument("--ft-epochs", type=int, default=3)
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print_header("Engine strategies vs hand-written loops", device, vars(args))
    data = ensure_fmnist(40, 100)
    fe, ft = [], []
    for repeat in range(args.repeats):
        fe += feature_extraction.measure(data, backbone=args.backbone, image_size=args.image_size,
                                         epochs=args.fe_epochs, device=device, repeat=repeat)
        ft += fine_tune.measure(data, backbone=args.backbone, image_size=args.image_size,
                                epochs=args.ft_epochs, device=device, repeat=repeat)
    print()
    print(f"Medians of {args.repeats} repeat(s).")
    print(feature_extraction.table(fe))
    print()
    print(fine_tune.table(ft))


if __name__ == "__main__":
    main()

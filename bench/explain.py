#!/usr/bin/env python3
"""Issue 16: Grad-CAM's cost, seconds per picture at 224 px on this machine, for MobileNetV2, ResNet-18
and ViT-B/16, through the studio's own explainer (tlcore.serve.explain, the `grad-cam` package).

usage: .venv/bin/python bench/explain.py [--repeats 7]

Random weights (the speed is the same as the pretrained ones', which need not be here); one warm-up
picture, then the median of --repeats pictures, each one forward and one backward pass.
Writes bench/out/explain.md.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import emit, markdown_table, print_header, publish  # noqa: E402

from tlcore.config import RunConfig  # noqa: E402
from tlcore.device import configure_cpu_threads  # noqa: E402
from tlcore.models.classifier import create_classifier  # noqa: E402
from tlcore.serve.explain import Explainer  # noqa: E402

BACKBONES = ("mobilenet_v2", "resnet18", "vit_b_16")


def picture(seed: int) -> Image.Image:
    """A bright square on noise, somewhere: something to look at."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 80, (224, 224, 3), dtype=np.uint8)
    x, y = rng.integers(0, 150, 2)
    pixels[y:y + 70, x:x + 70] = rng.integers(150, 255, 3, dtype=np.uint8)
    return Image.fromarray(pixels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print_header("Issue 16: Grad-CAM seconds per picture, 224 px, CPU", "cpu", vars(args))
    configure_cpu_threads()

    rows = []
    for name in BACKBONES:
        model = create_classifier(RunConfig(data="x", backbone=name, image_size=224), 5, pretrained=False)
        explainer = Explainer(model, [str(c) for c in range(5)], 224)
        explainer.explain(picture(0))  # warm-up
        seconds = []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            explainer.explain(picture(repeat + 1))
            seconds.append(time.perf_counter() - started)
        emit(backbone=name, median_s=round(statistics.median(seconds), 3), all_s=[round(s, 3) for s in seconds])
        rows.append([name, f"{statistics.median(seconds):.2f} s"])
    table = markdown_table(["backbone", "Grad-CAM, seconds per picture (median)"], rows)
    publish("explain", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

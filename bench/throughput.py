#!/usr/bin/env python3
"""Issue 5, item 3: backbone forward throughput, the engine's embedding pass against plain eager PyTorch.

usage: .venv/bin/python bench/throughput.py [--models mobilenet_v2,resnet18,efficientnet_lite0]
           [--image-size 224] [--batch 64] [--warmup 2] [--iters 5] [--matmul-n 0] [--device auto]

(a) eager: what a user writes: the torchvision model (efficientnet_lite_pytorch's for Lite0),
    model.eval(), default memory format, float input already normalized, torch.inference_mode(),
    fp32. (b) engine: tlcore.embeddings.compute_embeddings over uint8 NHWC images, the backbone
    prepared as the worker prepares it (.to(device, memory_format=channels_last)); this includes
    normalization, BatchNorm folding, the copy of the features back to numpy, on CUDA the engine's
    autocast, and its own forward batch size (tlcore.inputs.inference_batch_size: on a CPU, small
    enough to keep activations in cache), over the same --batch images.
Random init in both: throughput does not depend on weight values. One iteration = --batch images;
images/s is the median over the timed iterations, warm-up excluded.

FLOPs: 2 x multiply-adds. BackboneSpec.gflops is GMACs at 224 px (torchvision's `_ops`, which its
docs label GFLOPS but counts multiply-adds: ResNet-18 1.814), so FLOPs/image = 2 x spec.gflops x
(size/224)^2; torch.utils.flop_counter's count (which also uses 2 per multiply-add) is shown as a
check. Peak: best 2*n^3/t of a square fp32 torch.matmul on the same device and threads (on CUDA
also in the autocast dtype the engine runs in, which is what its fraction uses). A second, stricter
yardstick: the best GFLOP/s of dense 3x3 and 1x1 convolutions in channels_last (common.conv_peak_gflops),
since on a CPU convolutions (oneDNN) and matmul (MKL) may run on different instruction sets.
Target: the engine's ResNet-18 at 70% of peak or better.
"""
import argparse
import statistics

import numpy as np
import torch

from common import (conv_peak_gflops, emit, markdown_table, matmul_peak_gflops, print_header, resolve_device,
                    time_iterations)


def user_model(name: str) -> torch.nn.Module:
    """The model as a user builds it (random weights here; from_pretrained builds the same network)."""
    if name == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name("efficientnet-lite0")
    import torchvision

    return torchvision.models.get_model(name)


def eager_images_per_s(name: str, device: str, batch: int, size: int, warmup: int, iters: int) -> list[float]:
    torch.backends.cudnn.benchmark = False  # a plain script leaves it off
    model = user_model(name).eval().to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    with torch.inference_mode():
        times = time_iterations(lambda: model(x), warmup=warmup, iters=iters, device=device)
    return [batch / t for t in times]


def engine_images_per_s(name: str, device: str, batch: int, size: int, warmup: int, iters: int) -> list[float]:
    from tlcore.models.weights import create_backbone
    from tlcore.training.embeddings import compute_embeddings

    torch.backends.cudnn.benchmark = device.startswith("cuda")  # as the worker sets it
    backbone = create_backbone(name, pretrained=False).to(device, memory_format=torch.channels_last)
    images = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    step = lambda: compute_embeddings(backbone, images, device=torch.device(device))  # in its own batches
    return [batch / t for t in time_iterations(step, warmup=warmup, iters=iters, device=device)]


def counted_gflops(name: str, size: int) -> float:
    """FLOPs of one image through the backbone, counted by torch (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode
    from tlcore.models.weights import create_backbone

    backbone = create_backbone(name, pretrained=False).eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        backbone(torch.randn(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def engine_dtype(device: str) -> torch.dtype:
    from tlcore.training.loop import autocast_for

    autocast, _ = autocast_for(torch.device(device))
    return getattr(autocast, "fast_dtype", torch.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,resnet18,efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--matmul-n", type=int, default=0, help="matmul side for the peak (0: 2048 CPU, 8192 GPU)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    from tlcore.models.backbones import get_spec
    from tlcore.device import configure_cpu_threads
    from tlcore.data.batches import inference_batch_size

    configure_cpu_threads()  # one thread count for every measurement here, the engine's
    device = resolve_device(args.device)
    print_header("Backbone forward throughput: engine embedding pass vs eager PyTorch", device,
                 dict(vars(args), threads=torch.get_num_threads()))
    n = args.matmul_n or (8192 if device.startswith("cuda") else 2048)
    dtype = engine_dtype(device)
    peaks = {torch.float32: matmul_peak_gflops(device, n)}
    if dtype != torch.float32:
        peaks[dtype] = matmul_peak_gflops(device, n, dtype)
    for peak_dtype, value in peaks.items():
        emit(item="throughput", what="matmul_peak", dtype=str(peak_dtype), n=n, gflop_per_s=round(value, 1))
    conv_peak = conv_peak_gflops(device, dtype)
    emit(item="throughput", what="conv_peak", dtype=str(dtype), gflop_per_s=round(conv_peak, 1))

    rows = []
    for name in args.models.split(","):
        spec = get_spec(name)
        gflops = 2 * spec.gflops * (args.image_size / 224) ** 2
        counted = counted_gflops(name, args.image_size)
        measured = {}
        for variant, measure in (("eager", eager_images_per_s), ("engine", engine_images_per_s)):
            rates = measure(name, device, args.batch, args.image_size, args.warmup, args.iters)
            measured[variant] = statistics.median(rates)
            emit(item="throughput", what=variant, backbone=name, image_size=args.image_size, batch=args.batch,
                 images_per_s=round(measured[variant], 2), all_images_per_s=[round(r, 2) for r in rates],
                 gflops_per_image=round(gflops, 3), counted_gflops_per_image=round(counted, 3),
                 gflop_per_s=round(measured[variant] * gflops, 1))
        engine_gflop_s = measured["engine"] * gflops
        rows.append([name, f"{gflops:.3f}", f"{counted:.3f}", f"{measured['eager']:.1f}",
                     f"{measured['engine']:.1f}", f"{measured['engine'] / measured['eager']:.2f}x",
                     f"{measured['eager'] * gflops / peaks[torch.float32]:.0%}",
                     f"{engine_gflop_s:.1f}", f"{engine_gflop_s / peaks[dtype]:.0%}",
                     f"{engine_gflop_s / conv_peak:.0%}"])
    print()
    engine_batch = inference_batch_size(args.image_size, torch.device(device))
    print(f"{args.batch} images per iteration (eager: one batch; engine: batches of {engine_batch}), "
          f"{args.image_size} px, median of {args.iters} timed iterations; "
          f"{str(dtype).replace('torch.', '')} matmul peak {peaks[dtype]:.1f} GFLOP/s (n={n}), "
          f"dense convolution peak {conv_peak:.1f} GFLOP/s; FLOPs = 2 x multiply-adds.")
    print(markdown_table(["backbone", "GFLOPs/img (2x spec MACs)", "GFLOPs/img counted", "eager img/s",
                          "engine img/s", "engine vs eager", "eager % of fp32 peak", "engine GFLOP/s",
                          "engine % of matmul peak", "engine % of conv peak"], rows))


if __name__ == "__main__":
    main()

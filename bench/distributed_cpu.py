#!/usr/bin/env python3
"""Issue 18: one fine-tuning run trained by two processes (torch.distributed, gloo) against one process, on the CPU.

usage: .venv/bin/python bench/distributed_cpu.py [--seeds 0,1,2] [--per-class 40] [--epochs 3] [--image-size 128]

Data: Fashion-MNIST 5-9 (bench/make_fmnist.py), per-class training pictures, 100 validation pictures
per class. Every seed runs both sides, interleaved, each in a fresh studio home (nothing cached):
  one process   `python -m tlcore train --strategy fine_tune` with OMP_NUM_THREADS = 2 (the machine's cores);
  two processes the same with `--nproc-per-node 2`, OMP_NUM_THREADS = 1 in each.
Same global batch (32), same schedule, same seed. Reported: final and best validation accuracy
(they must agree within the seeds' spread), the body phase's training images/s (events.jsonl: train
size x epochs / summed epoch_s), and the whole process's wall time.

The collectives' cost: two gloo processes on this machine all-reduce a gradient the size of the
run's trainable parameters (MobileNetV2 with a 5-class head), and a single number (the per-step
agreement on a cancel and on a finite loss, twice a step), median of 20 after a warm-up; times the
steps of one body epoch, against that epoch's training seconds.
"""
import argparse
import json
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, ensure_fmnist, markdown_table, median, phase_stats, print_header, publish, run_json, spread

BATCH = 32


def one_run(data: Path, *, processes: int, seed: int, epochs: int, image_size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-home-") as home:
        threads = max(1, (os.cpu_count() or 2) // processes)
        env = dict(os.environ, TLSTUDIO_HOME=home, OMP_NUM_THREADS=str(threads))
        command = [sys.executable, "-m", "tlcore", "train", data, "--strategy", "fine_tune", "--epochs", epochs,
                   "--image-size", image_size, "--batch-size", BATCH, "--seed", seed, "--device", "cpu", "--quiet"]
        if processes > 1:
            command += ["--nproc-per-node", processes]
        result = run_json(command, env)
        run_dir = Path(result["run_dir"])
        body = phase_stats(run_dir)["body"]
        status = json.loads((run_dir / "status.json").read_text())
    return {"processes": processes, "threads_each": threads, "seed": seed, "final_val_acc": result["final_val_acc"],
            "best_val_acc": result["best_val_acc"], "best_phase": status.get("best_phase"),
            "body_images_per_s": round(body["train_size"] * body["epochs"] / body["train_s"], 1),
            "body_epoch_train_s": round(body["train_s"] / body["epochs"], 2), "train_size": body["train_size"],
            "process_s": result["process_s"]}


def _all_reduce_worker(rank: int, port: int, sizes: list[int], repeats: int, out) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    timings = {}
    for size in sizes:
        tensor = torch.ones(size)
        for _ in range(3):
            dist.all_reduce(tensor)
        seconds = []
        for _ in range(repeats):
            dist.barrier()
            started = time.perf_counter()
            dist.all_reduce(tensor)
            seconds.append(time.perf_counter() - started)
        timings[size] = sorted(seconds)[len(seconds) // 2]
    if rank == 0:
        out.put(timings)
    dist.destroy_process_group()


def all_reduce_ms(sizes: list[int], repeats: int = 20) -> dict[int, float]:
    """Median seconds, in ms, of one gloo all-reduce of each size (float32 numbers) between two processes."""
    import torch.multiprocessing as mp

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_all_reduce_worker, args=(rank, port, sizes, repeats, queue))
               for rank in range(2)]
    for worker in workers:
        worker.start()
    timings = queue.get(timeout=300)
    for worker in workers:
        worker.join()
    return {size: round(seconds * 1000, 2) for size, seconds in timings.items()}


def trainable_numbers(classes: int = 5) -> int:
    sys.path.insert(0, str(ROOT))
    from tlcore.config import RunConfig
    from tlcore.models.classifier import create_classifier

    model = create_classifier(RunConfig(data="x", strategy="fine_tune"), classes, pretrained=False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3, help="body epochs (after the default head warm-up)")
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    print_header("One run, two processes (gloo) against one process, fine-tuning on the CPU", "cpu", vars(args))
    data = ensure_fmnist(args.per_class, 100)
    records = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for processes in (1, 2):  # interleaved: the machine's drift falls on both sides alike
            record = one_run(data, processes=processes, seed=seed, epochs=args.epochs, image_size=args.image_size)
            emit(item="distributed_cpu", **record)
            records.append(record)

    gradient = trainable_numbers()
    reduce_ms = all_reduce_ms([gradient, 1])
    emit(item="all_reduce", gradient_numbers=gradient, gradient_ms=reduce_ms[gradient], one_number_ms=reduce_ms[1])
    steps = math.ceil(records[0]["train_size"] / BATCH)
    collective_s = steps * (reduce_ms[gradient] + 2 * reduce_ms[1]) / 1000
    two = [r for r in records if r["processes"] == 2]

    rows = []
    for processes, words in ((1, "1 process x 2 threads"), (2, "2 processes x 1 thread (gloo)")):
        side = [r for r in records if r["processes"] == processes]
        rows.append([words, spread(r["final_val_acc"] for r in side), spread(r["best_val_acc"] for r in side),
                     f"{median(r['body_images_per_s'] for r in side):.1f}",
                     f"{median(r['body_epoch_train_s'] for r in side):.2f}",
                     f"{median(r['process_s'] for r in side):.1f}"])
    text = (f"Fine-tuning MobileNetV2 on Fashion-MNIST 5-9, {args.per_class} training pictures per class, "
            f"{args.image_size} px, {args.epochs} body epochs, batch {BATCH}, seeds {args.seeds} (mean (min-max); "
            "medians for the times)\n\n" + markdown_table(
                ["side", "final val acc", "best val acc", "body images/s", "body epoch s (training)", "process s"],
                rows) +
            f"\n\nCollectives: a gloo all-reduce of the {gradient:,} trainable numbers takes {reduce_ms[gradient]:.1f} ms "
            f"between two processes here, one of a single number {reduce_ms[1]:.2f} ms; {steps} steps an epoch "
            f"make {collective_s:.2f} s of a {median(r['body_epoch_train_s'] for r in two):.2f} s body epoch "
            f"({100 * collective_s / median(r['body_epoch_train_s'] for r in two):.0f}%) with two processes.\n")
    publish("distributed_cpu", text)


if __name__ == "__main__":
    sys.exit(main())

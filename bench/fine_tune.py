#!/usr/bin/env python3
"""Issue 5, item 2: the engine's fine_tune against the hand-written loop that trains every parameter.

usage: .venv/bin/python bench/fine_tune.py [--repeats 3] [--epochs 3] [--image-size 128]
           [--backbones mobilenet_v2] [--lr 1e-4] [--device auto]

Reference: `reference_loop.py --mode finetune --lr 1e-4 --epochs N`. Engine: `--strategy fine_tune
--epochs N` (N epochs of the whole network on images, after its default 5 head epochs on cached
embeddings). Data and interleaving as in feature_extraction.py; fresh studio home per engine run.

Images/s, the same formula on both sides: training images x epochs / seconds of those epochs, where
the seconds include each epoch's validation pass.
  reference: train_images * epochs / wall_s (its wall_s times exactly its epochs).
  engine: train_size * body epochs / body-phase seconds, from the run's events.jsonl (phase_start to
  the last epoch event), so the head epochs and the embedding pass are left out.
Also shown: the engine's train-only images/s of the body phase (sum of epoch_s, validation excluded)
and its reported train_images_per_s, which averages over head and body epochs alike.
Target: engine images/s at least the reference's, best validation accuracy at least the reference's.
"""
import argparse

from common import (reference_and_engine, emit, engine_run, ensure_fmnist, markdown_table, median, print_header, reference_run,
                    resolve_device)


def rate(images: float, seconds: float) -> float | None:
    return round(images / seconds, 1) if seconds else None


def measure(data, *, backbone: str, image_size: int, epochs: int, device: str, repeat: int,
            lr: float = 1e-4) -> list[dict]:
    """One reference run and one engine run; each is printed as a JSON line and returned."""
    base = {"item": "fine_tune", "backbone": backbone, "image_size": image_size, "epochs": epochs,
            "repeat": repeat}
    ref = reference_run(data, mode="finetune", epochs=epochs, image_size=image_size, backbone=backbone,
                        device=device, lr=lr)
    records = [dict(base, what="reference", wall_s=ref["wall_s"], process_s=ref["process_s"],
                    best_val_acc=ref["best_val_acc"], val_acc=ref["val_acc"],
                    images_per_s=rate(ref["train_images"] * epochs, ref["wall_s"]))]
    ours = engine_run(data, backbone=backbone, strategy="fine_tune", epochs=epochs, image_size=image_size,
                      device=device)
    body = ours["phases"].get("body", {})
    images = body.get("train_size", 0) * body.get("epochs", 0)
    records.append(dict(base, what="engine", wall_s=ours["wall_s"], process_s=ours["process_s"],
                        best_val_acc=ours["best_val_acc"], final_val_acc=ours["final_val_acc"],
                        images_per_s=rate(images, body.get("wall_s")),
                        train_only_images_per_s=rate(images, body.get("train_s")),
                        reported_train_images_per_s=ours["train_images_per_s"],
                        phases=ours["phases"], timings=ours["timings"], run_status=ours["status"]))
    for record in records:
        emit(**record)
    return records


def table(records: list[dict]) -> str:
    """Two rows per (backbone, size, epochs): the reference, then the engine against it."""
    rows = []
    for key, ref, ours in reference_and_engine(records):
        ref_rate, our_rate = median(r["images_per_s"] for r in ref), median(r["images_per_s"] for r in ours)
        label = f"{key[0]}, {key[1]} px, {key[2]} epochs"
        rows.append([f"reference `--mode finetune` ({label})", len(ref), f"{median(r['wall_s'] for r in ref):.1f}",
                     f"{ref_rate:.1f}", "—", "—", f"{median(r['best_val_acc'] for r in ref):.3f}", "1x"])
        rows.append([f"engine `fine_tune` ({label}, after 5 head epochs)", len(ours),
                     f"{median(r['wall_s'] for r in ours):.1f}", f"{our_rate:.1f}",
                     f"{median(r['train_only_images_per_s'] for r in ours):.1f}",
                     f"{median(r['reported_train_images_per_s'] for r in ours):.1f}",
                     f"{median(r['best_val_acc'] for r in ours):.3f}", f"{our_rate / ref_rate:.2f}x"])
    return markdown_table(
        ["what", "repeats", "wall s (whole run)", "img/s (epochs incl. validation)", "img/s (body, train only)",
         "reported train_images_per_s", "best val acc", "img/s vs reference"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--backbones", default="mobilenet_v2")
    parser.add_argument("--lr", type=float, default=1e-4, help="the reference loop's learning rate")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--val-per-class", type=int, default=100)
    args = parser.parse_args()
    device = resolve_device(args.device)
    print_header("Fine-tuning: engine vs hand-written loop", device, vars(args))
    data = ensure_fmnist(args.train_per_class, args.val_per_class)
    records = []
    for repeat in range(args.repeats):
        for backbone in args.backbones.split(","):
            records += measure(data, backbone=backbone, image_size=args.image_size, epochs=args.epochs,
                               device=device, repeat=repeat, lr=args.lr)
    print()
    print(f"Medians of {args.repeats} repeat(s). img/s = training images x epochs / seconds of those epochs.")
    print(table(records))


if __name__ == "__main__":
    main()

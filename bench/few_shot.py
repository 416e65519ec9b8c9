#!/usr/bin/env python3
"""Issue 14: a few pictures per class. 5-way 1-shot and 5-shot episodes on Fashion-MNIST 5-9, mean
accuracy with 95% confidence intervals, for:

  prototypes (ImageNet)    class means of L2-normalised MobileNetV2 features, cosine similarity
                           (the studio's `prototypes` head): no training at all
  linear (ImageNet)        a linear head on the same normalised features, full-batch Adam, 100 steps
  fine-tune (ImageNet)     the body's last stage and a zero-initialised head adapted on the support
                           pictures (Adam, --adapt-steps steps): plain fine-tuning at episode scale
  meta-learned (0-4)       the same adaptation, from the start Reptile learned on episodes of
                           Fashion-MNIST 0-4 (tlcore.training.meta_learning, the meta_learning strategy's
                           own code, its default settings and K matching the evaluation's)
  prototypes (own source)  prototypes on the features of a MobileNetV2 trained from scratch on
                           Fashion-MNIST 0-4 (bench/own_source.py's source run, reused when present)

usage: .venv/bin/python bench/few_shot.py [--episodes 600] [--tuned-episodes 100] [--image-size 64]
           [--strategy-sizes 5,20] [--only-strategies]

Then the strategy end to end, as a person runs it: `--strategy meta_learning --meta-source` Fashion-MNIST
0-4 (100 pictures per class) against `--strategy fine_tune`, on 5-9 at --strategy-sizes training
pictures per class (100 validation), 3 seeds, each with its defaults, `python -m tlcore train` per run.

Episodes draw 5 classes (all of 5-9), K support and 15 query pictures per class, from Fashion-MNIST's
test split (100 per class), the same episodes for every arm of a shot count. Seconds are per episode
on this machine; meta-learning's practice is reported apart (paid once, before any episode).
Writes bench/out/few_shot.md.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import OUT, emit, engine_run, ensure_fmnist, markdown_table, print_header, spread

HOME = Path(tempfile.gettempdir()) / "tlstudio-bench-few-shot"
os.environ.setdefault("TLSTUDIO_HOME", str(HOME))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402  (after TLSTUDIO_HOME: the engine reads it on import)
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from own_source import source_run  # noqa: E402
from tlcore import paths  # noqa: E402
from tlcore.data.batches import to_model_input  # noqa: E402
from tlcore.data.decoding import load_split_arrays  # noqa: E402
from tlcore.data.imagecache import ImageCache  # noqa: E402
from tlcore.data.scan import scan  # noqa: E402
from tlcore.device import configure_cpu_threads, resolve_device  # noqa: E402
from tlcore.models.classifier import load_checkpoint  # noqa: E402
from tlcore.models.heads import Prototypes  # noqa: E402
from tlcore.models.weights import create_backbone  # noqa: E402
from tlcore.training.embeddings import compute_embeddings  # noqa: E402
from tlcore.training.meta_learning import (EpisodeSampler, MetaSettings, Pool, accuracy_on, adapt,  # noqa: E402
                                           inner_groups, meta_train)
from tlcore.training.strategies import get_strategy  # noqa: E402

WAYS = 5
QUERIES = 15


def load_pool(folder: Path, split: str, image_size: int, name: str) -> Pool:
    cache = ImageCache(paths.cache_dir())
    manifest = scan(folder, cache=cache, image_size=image_size)
    return Pool(name, manifest.classes, *load_split_arrays(manifest, cache, split))


def draw_episodes(pool: Pool, shots: int, count: int, seed: int):
    sampler = EpisodeSampler([pool], WAYS, shots, QUERIES, np.random.default_rng(seed))
    return [sampler()[1] for _ in range(count)]


def prototype_accuracy(features: np.ndarray, episode) -> float:
    head = Prototypes(features.shape[1], WAYS)
    head.fit_to(torch.from_numpy(features[episode.support]), torch.from_numpy(episode.support_labels))
    return accuracy_on(head, torch.from_numpy(features[episode.query]), torch.from_numpy(episode.query_labels))


def linear_accuracy(features: np.ndarray, episode, steps: int = 100) -> float:
    x = F.normalize(torch.from_numpy(features[episode.support]), dim=1)
    y = torch.from_numpy(episode.support_labels)
    head = nn.Linear(x.shape[1], WAYS)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(steps):
        loss = F.cross_entropy(head(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    query = F.normalize(torch.from_numpy(features[episode.query]), dim=1)
    return accuracy_on(head, query, torch.from_numpy(episode.query_labels))


class Adapter:
    """An episode adapted like meta-learning's inner loop: the body's last stage and a head, from a start."""

    def __init__(self, backbone, head_state: dict | None, *, steps: int, lr: float, device):
        self.backbone, self.steps, self.lr, self.device = backbone, steps, lr, device
        self.body_state = {k: v.clone() for k, v in backbone.state_dict().items()}
        self.head = nn.Linear(backbone.spec.feature_dim, WAYS).to(device)
        if head_state is None:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            head_state = self.head.state_dict()
        self.head_state = {k: v.clone() for k, v in head_state.items()}
        for p in backbone.parameters():
            p.requires_grad_(False)
        stage = list(backbone.stages()[-1].parameters())
        self.params = inner_groups(stage, list(self.head.parameters()), lr)  # the strategy's inner rates
        for p in [*stage, *self.head.parameters()]:
            p.requires_grad_(True)
        self.model = nn.Sequential(backbone, self.head).eval()

    def accuracy(self, images: np.ndarray, episode) -> float:
        self.backbone.load_state_dict(self.body_state)
        self.head.load_state_dict(self.head_state)
        spec = self.backbone.spec

        def prepare(idx):
            return to_model_input(torch.from_numpy(images[idx]), spec.mean, spec.std, self.device)
        adapt(self.model, self.params, prepare(episode.support), torch.from_numpy(episode.support_labels).to(self.device),
              steps=self.steps, lr=self.lr)
        return accuracy_on(self.model, prepare(episode.query), torch.from_numpy(episode.query_labels).to(self.device))


def ci95(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), 1.96 * statistics.stdev(values) / len(values) ** 0.5


def evaluate(name: str, shots: int, episodes, accuracy_of) -> dict:
    started = time.perf_counter()
    accuracies = [accuracy_of(episode) for episode in episodes]
    mean, half = ci95(accuracies)
    record = dict(arm=name, shots=shots, episodes=len(episodes), mean=round(mean, 4), ci95=round(half, 4),
                  s_per_episode=round((time.perf_counter() - started) / len(episodes), 6))
    emit(**record)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=600, help="episodes for prototypes and linear heads")
    parser.add_argument("--tuned-episodes", type=int, default=100, help="episodes where each one fine-tunes")
    parser.add_argument("--shots", default="1,5")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--adapt-steps", type=int, default=10)
    parser.add_argument("--meta-episodes", type=int, default=None, help="default: the strategy's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--strategy-sizes", default="5,20")
    parser.add_argument("--only-strategies", action="store_true", help="only the end-to-end strategy runs")
    args = parser.parse_args()
    print_header("Issue 14: few-shot episodes on Fashion-MNIST 5-9", args.device, vars(args))
    if args.only_strategies:
        return strategy_runs(args)
    configure_cpu_threads()
    device = resolve_device(args.device)
    torch.manual_seed(0)

    source = source_run(image_size=args.image_size, device=args.device)
    target = load_pool(ensure_fmnist(5, 100, seed=0), "val", args.image_size, "Fashion-MNIST 5-9")
    practice = load_pool(Path(source["data"]), "train", args.image_size, "Fashion-MNIST 0-4")
    imagenet = create_backbone("mobilenet_v2", pretrained=True).to(device).eval()
    own = load_checkpoint(Path(source["run_dir"]) / "model_best.pt")[0].backbone.to(device).eval()
    features = {"ImageNet": compute_embeddings(imagenet, target.images, device=device),
                "own source": compute_embeddings(own, target.images, device=device)}

    defaults = get_strategy("meta_learning")
    records, practice_s = [], {}
    for shots in [int(s) for s in args.shots.split(",")]:
        episodes = draw_episodes(target, shots, max(args.episodes, args.tuned_episodes), seed=shots)
        tuned = episodes[:args.tuned_episodes]
        records.append(evaluate("prototypes (ImageNet)", shots, episodes,
                                lambda e: prototype_accuracy(features["ImageNet"], e)))
        records.append(evaluate("linear head (ImageNet)", shots, episodes,
                                lambda e: linear_accuracy(features["ImageNet"], e)))
        records.append(evaluate("prototypes (own source, 0-4)", shots, episodes,
                                lambda e: prototype_accuracy(features["own source"], e)))
        inner_lr = defaults.value({}, "inner_lr")
        plain = Adapter(create_backbone("mobilenet_v2", pretrained=True).to(device), None,
                        steps=args.adapt_steps, lr=inner_lr, device=device)
        records.append(evaluate("fine-tune (ImageNet)", shots, tuned, lambda e: plain.accuracy(target.images, e)))

        settings = MetaSettings(**{key: defaults.value({}, key) for key in
                                   ("episodes", "ways", "inner_steps", "inner_lr", "outer_lr")} | {"shots": shots})
        if args.meta_episodes:
            settings = MetaSettings(**{**settings.__dict__, "episodes": args.meta_episodes})
        body = create_backbone("mobilenet_v2", pretrained=True).to(device)
        started = time.perf_counter()
        spec = body.spec
        head = meta_train(body, body.stages()[-1], spec.feature_dim, [practice], settings,
                          prepare=lambda x: to_model_input(torch.from_numpy(x), spec.mean, spec.std, device),
                          rng=np.random.default_rng(shots))
        practice_s[shots] = round(time.perf_counter() - started, 1)
        emit(item="meta-training", shots=shots, episodes=settings.episodes, seconds=practice_s[shots])
        learned = Adapter(body, head.state_dict(), steps=args.adapt_steps, lr=inner_lr, device=device)
        records.append(evaluate("meta-learned start (Reptile on 0-4), adapted", shots, tuned,
                                lambda e: learned.accuracy(target.images, e)))

    table = results_table(records)
    print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "few_shot.md").write_text(
        f"5-way episodes on Fashion-MNIST 5-9 (test split), {QUERIES} query pictures per class, {args.image_size} px, "
        f"MobileNetV2; adaptation: {args.adapt_steps} Adam steps at {defaults.value({}, 'inner_lr'):g} on the last "
        f"stage and the head. Meta-training (paid once): "
        + ", ".join(f"{s}-shot {t:.0f} s" for s, t in practice_s.items()) + ".\n\n" + table + "\n")
    return strategy_runs(args)


def strategy_runs(args) -> int:
    """meta_learning against fine_tune, whole runs through the CLI, each with its defaults."""
    practice = ensure_fmnist(100, 20, seed=0, classes="0,1,2,3,4")
    sizes = [int(s) for s in args.strategy_sizes.split(",")]
    records = []
    for size in sizes:
        for seed in (0, 1, 2):
            data = ensure_fmnist(size, 100, seed=seed)
            for strategy, extra in (("fine_tune", ()), ("meta_learning", ("--meta-source", practice))):
                result = engine_run(data, backbone="mobilenet_v2", strategy=strategy, epochs=None,
                                    image_size=args.image_size, device=args.device, seed=seed,
                                    home=HOME / f"runs-{size}-s{seed}", extra=extra)
                record = dict(part="strategy", strategy=strategy, per_class=size, seed=seed,
                              best_val_acc=result["best_val_acc"], best_phase=result.get("best_phase"),
                              meta_last_acc=result.get("meta_last_acc"), process_s=result["process_s"])
                emit(**record)
                records.append(record)
    rows = [[strategy] + [cell for size in sizes for cell in (
        spread(r["best_val_acc"] for r in records if r["strategy"] == strategy and r["per_class"] == size),
        f"{statistics.mean(r['process_s'] for r in records if r['strategy'] == strategy and r['per_class'] == size):.0f}")]
        for strategy in ("fine_tune", "meta_learning")]
    table = markdown_table(["strategy"] + [h for s in sizes for h in (f"{s} per class", "s")], rows)
    print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "few_shot_strategies.md").write_text(
        f"Whole runs on Fashion-MNIST 5-9, {args.image_size} px, 3 seeds, defaults; meta_learning practises on "
        f"0-4 (100 per class).\n\n{table}\n")
    return 0


def results_table(records: list[dict]) -> str:
    arms = list(dict.fromkeys(r["arm"] for r in records))
    shots = sorted({r["shots"] for r in records})
    rows = []
    for arm in arms:
        row = [arm]
        for k in shots:
            r = next((r for r in records if r["arm"] == arm and r["shots"] == k), None)
            row += [f"{r['mean']:.3f} ± {r['ci95']:.3f} ({r['episodes']})", f"{r['s_per_episode'] * 1000:.1f}"] \
                if r else ["", ""]
        rows.append(row)
    headers = ["arm"] + [h for k in shots for h in (f"{k}-shot accuracy ± 95% CI (episodes)", f"{k}-shot ms/episode")]
    return markdown_table(headers, rows)


if __name__ == "__main__":
    sys.exit(main())

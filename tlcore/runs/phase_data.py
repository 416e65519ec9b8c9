"""A phase's batches: cached backbone features for phases on a frozen body, pictures otherwise.

Features are computed once per (dataset split, network weights, image size) and kept in the
embedding cache, so runs of other sizes, seeds and strategies share them.
"""
import functools
import time
from contextlib import contextmanager

import numpy as np
import torch

from tlcore import paths
from tlcore.data.batches import ArrayBatches, augment, crop_draws, inference_batch_size, to_model_input
from tlcore.diskspace import require_free_space
from tlcore.models.backbones import CombinedBackbone
from tlcore.models.folding import fold_batchnorm
from tlcore.training.distributed import SINGLE, World
from tlcore.training.embeddings import EmbeddingCache, compute_embeddings, embedding_key
from tlcore.training.loop import PhaseData


def throttled(report, interval_s: float = 0.25):
    """A progress callback that passes on at most a few calls a second, and always the last one."""
    last = [0.0]

    def call(done, total):
        now = time.monotonic()
        if done >= total or now - last[0] >= interval_s:
            last[0] = now
            report(done, total)
    return call


@contextmanager
def timed(timings: dict, name: str):
    """Add the seconds spent in the block to timings[name], for the run's final report."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 3)


# What a varied copy of a training picture is: part of the cache key of its features, so a change to
# the recipe computes them afresh instead of reusing copies made another way.
VIEW_RECIPE = "crop0.6-flip:v2"


def view_transform(view: int, pictures: int):
    """The model input of the view-th varied copy (1, 2, ...) of a set of pictures: random crops and
    flips drawn once for the whole set from the copy's number, so a copy is the same whatever the
    batches (their size depends on the device) and every network combined sees the same crops."""
    draws = crop_draws(pictures, torch.Generator().manual_seed(view))

    def transform(x: torch.Tensor, first: int) -> torch.Tensor:
        return augment(x, draws=draws[first:first + len(x)])
    return transform


def mirror(x: torch.Tensor, first: int) -> torch.Tensor:
    return torch.flip(x, dims=[3])


def cached(cache: EmbeddingCache, key: str, compute, world: World) -> np.ndarray:
    """A set's features from the cache, else computed. Several processes agree first whether they are
    there (all compute their share together, or none does), and rank 0 alone writes them."""
    if not world.active:
        return cache.get_or_compute(key, compute)[0]
    values = cache.get(key)
    if world.any(values is None):
        values = compute()
        if world.writes:
            cache.put(key, values)
    return values


def make_phase_data(phase, *, model, datasets: dict, config, weights, device, status, should_stop, generator,
                    timings, meters=(), train_rows: np.ndarray | None = None, balanced: bool = False,
                    world: World = SINGLE):
    """Build a phase's batches: cached embeddings for frozen-backbone phases, pixels otherwise.

    Args:
        weights: () -> the identities of the body's weights, one per network (several when combined).
        train_rows: the training pictures this run learns from (a draw per class), None for all. Features
            are computed for the whole split, so runs of other sizes and seeds share them.
        datasets: name -> (fingerprint, SamplePictures, labels) for "train", "val" and, when the run
            has one, "target" (label -1 where a target picture has none).
        balanced: training draws every class equally often (ArrayBatches' class-balanced sampler).
        world: the processes training the run together. Each describes its block of every set, the
            blocks are gathered once and rank 0 keeps them in the cache; each trains on its share of every
            batch of the order all draw from ``generator`` (seeded alike), with augmentations of its own,
            and validates on its block of the held-out sets.
    """
    share = (world.rank, world.size) if world.active else None
    # The order of the batches must be the same on every process, the random crops need not: a
    # generator of their own, so that shares of different sizes do not shift the next epoch's order.
    augmenting = generator if not world.active else torch.Generator().manual_seed(config.seed + 7919 * (world.rank + 1))
    spec = model.backbone.spec
    inputs, mirrored = {}, {}
    copies = 1  # the training inputs hold the plain pictures' features, then each varied copy's
    if phase.inputs == "embeddings":
        cache = EmbeddingCache(paths.cache_dir())

        members = model.backbone.members if isinstance(model.backbone, CombinedBackbone) else [model.backbone]

        @functools.cache
        def frozen(index: int):
            """A network with BatchNorm folded, made once for all sets (and not at all if all are cached)."""
            member = members[index]
            example = to_model_input(torch.from_numpy(datasets["train"][1].array[:2]), member.spec.mean,
                                     member.spec.std, device)
            return fold_batchnorm(member, example)

        def features(name: str, variant: tuple = (), transform=None) -> np.ndarray:
            """One set's features (of the plain pictures, or of a variant of them), each network's cached."""
            fingerprint, pictures, _ = datasets[name]
            split = ":".join((name, *map(str, variant)))  # how the progress names this pass
            parts = []
            for index, identity in enumerate(weights()):  # each network's features cached on their own
                def compute(index=index):
                    dim = members[index].spec.feature_dim
                    require_free_space(cache.root, len(pictures) * dim * 4, "the computed features")

                    def report(done, total):
                        for meter in meters:  # the recorder writes the status; the CLI's bar draws
                            meter.on_features(done, total, split)
                    with timed(timings, "embedding_s"):
                        return world.gather_rows(compute_embeddings(
                            frozen(index), pictures.array, device=device, on_progress=throttled(report),
                            should_stop=should_stop, transform=transform, rows=world.block(len(pictures))))

                key = embedding_key(fingerprint, name, identity, config.image_size, *variant)
                parts.append(cached(cache, key, compute, world))
            return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

        for name in datasets:
            if name == "joint":
                continue  # a second dataset trains only where the body does: its features are never needed
            inputs[name] = features(name)
        if config.augment_views:
            copies += config.augment_views
            inputs["train"] = np.concatenate([inputs["train"]] + [
                features("train", ("view", view, VIEW_RECIPE), view_transform(view, len(datasets["train"][2])))
                for view in range(1, config.augment_views + 1)])
        if config.tta:  # the sets validation checks: val, and a target's labelled pictures
            for name in ("val", "target"):
                if name in datasets and (datasets[name][2] >= 0).any():
                    mirrored[name] = features(name, ("mirror",), mirror)
        status.update(stage={"name": "training"})  # the feature pass is over; progress is the loop's again

        def prepare(x, training):
            return x.to(device, non_blocking=True)
        eval_batch = 256
    else:
        inputs = {name: pictures.array for name, (_, pictures, _) in datasets.items()}

        def prepare(raw, training):
            x = to_model_input(raw, spec.mean, spec.std, device)
            return augment(x, augmenting) if training and phase.augment else x
        eval_batch = inference_batch_size(config.image_size, device)

    train_inputs, train_labels = inputs["train"], np.tile(datasets["train"][2], copies)
    if train_rows is not None:  # the same pictures in every copy
        count = len(datasets["train"][2])
        rows = np.concatenate([train_rows + copy * count for copy in range(copies)])
        train_inputs, train_labels = train_inputs.take(rows, axis=0), train_labels[rows]  # pictures stay unread
    data = PhaseData(
        train=ArrayBatches(train_inputs, train_labels, config.batch_size, True, generator, device, balanced=balanced,
                           share=share),
        val=ArrayBatches(inputs["val"], datasets["val"][2], eval_batch, False, device=device, share=share),
        prepare=prepare, tta=config.tta)
    if "val" in mirrored:
        data.mirrored["val"] = ArrayBatches(mirrored["val"], datasets["val"][2], eval_batch, False, device=device,
                                            share=share)
    if "target" in datasets:
        labels = datasets["target"][2]
        labelled = labels >= 0
        if labelled.any():
            data.checks["target"] = ArrayBatches(inputs["target"].take(np.flatnonzero(labelled), axis=0),
                                                 labels[labelled], eval_batch, False,
                                                 device=device, share=share)
            if "target" in mirrored:
                data.mirrored["target"] = ArrayBatches(mirrored["target"][labelled], labels[labelled], eval_batch,
                                                       False, device=device, share=share)
        if "target" in phase.streams:  # pictures only: the labels stay here, as zeros go with the batches
            data.streams["target"] = ArrayBatches(inputs["target"], np.zeros(len(labels), dtype=np.int64),
                                                  config.batch_size, True, generator, device)
    if "joint" in phase.streams:  # a second labelled dataset: its labels go with its pictures
        data.streams["joint"] = ArrayBatches(inputs["joint"], datasets["joint"][2], config.batch_size, True,
                                             generator, device)
    return data

"""A phase's batches: cached backbone features for phases on a frozen body, pictures otherwise.

Features are computed once per (dataset split, network weights, image size) and kept in the
embedding cache, so runs of other sizes, seeds and strategies share them.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from tlcore import paths
from tlcore.data.batches import ArrayBatches, augment, crop_draws, inference_batch_size, to_model_input
from tlcore.diskspace import require_free_space
from tlcore.models.backbones import CombinedBackbone
from tlcore.models.folding import fold_batchnorm
from tlcore.runs.execution.run_data import RunData
from tlcore.runs.execution.timing import throttled, timed
from tlcore.training.distributed import SINGLE, World
from tlcore.training.embeddings import EmbeddingCache, compute_embeddings, embedding_key
from tlcore.training.norm_statistics import (MIN_PICTURES, RECIPE, adapt_norm_statistics, has_norm_statistics,
                                             load_statistics_vector, statistics_vector)
from tlcore.training.phase_inputs import PhaseData
from tlcore.training.strategies import get_strategy

# What a varied copy of a training picture is: part of the cache key of its features, so a change to
# the recipe computes them afresh instead of reusing copies made another way.
VIEW_RECIPE = "crop0.6-flip:v2"
FEATURE_BATCH = 256  # held-out batches on cached features: a matrix product each, memory is the only limit


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


@dataclass
class Inputs:
    """A phase's inputs per set, before batching: arrays of features or of pictures."""

    by_set: dict
    mirrored: dict = field(default_factory=dict)  # with TTA, the mirror images' features of the checked sets
    copies: int = 1  # the training inputs hold the plain pictures' features, then each varied copy's


@dataclass
class PhaseDataMaker:
    """Builds each phase's batches for the loop (``fit``'s data_for).

    weights: () -> the identities of the body's weights, one per network (several when combined).
    report: sends one of the run's events (the feature pass's progress, as "on_features").
    world: the processes training the run together. Each describes its block of every set, the blocks
    are gathered once and rank 0 keeps them in the cache; each trains on its share of every batch of
    the order all draw from ``generator`` (seeded alike), with augmentations of its own, and validates
    on its block of the held-out sets.

    With the strategy's option, each network's BatchNorm statistics are first measured on the training
    pictures learned from (tlcore.training.norm_statistics): in the model itself, so the saved model
    describes pictures as the feature pass did, and in the features' cache keys, so adapted and plain
    features never mix.
    """

    model: torch.nn.Module
    data: RunData
    config: object
    weights: object
    device: torch.device
    should_stop: object
    generator: torch.Generator
    timings: dict
    report: object = lambda *_, **__: None
    world: World = SINGLE
    _folded: dict = field(default_factory=dict, init=False, repr=False)
    # Per network (by index), what its adapted statistics add to its identity; None before they were looked at.
    _adapted: dict | None = field(default=None, init=False, repr=False)

    def __call__(self, phase) -> PhaseData:
        self._folded.clear()  # folded from the body as it is now: a phase before may have trained it
        if phase.inputs == "embeddings":
            inputs, prepare, eval_batch = self.feature_inputs(), self.prepare_features, FEATURE_BATCH
        else:
            inputs = Inputs({name: found.pictures.array for name, found in self.data.sets.items()})
            prepare, eval_batch = functools.partial(self.prepare_pictures, phase), \
                inference_batch_size(self.config.image_size, self.device)
        return self.batches(phase, inputs, prepare, eval_batch)

    # -- inputs ------------------------------------------------------------------------------------
    def feature_inputs(self) -> Inputs:
        """Every set's features (a second dataset trains only where the body does: never needed here),
        the varied copies' after the training set's, and with TTA the checked sets' mirror images."""
        self.adapt_norm_statistics()
        inputs = Inputs({name: self.features(name) for name in self.data.sets if name != "joint"})
        views = self.config.augment_views
        if views:
            inputs.copies += views
            size = len(self.data.train)
            inputs.by_set["train"] = np.concatenate([inputs.by_set["train"]] + [
                self.features("train", ("view", view, VIEW_RECIPE), view_transform(view, size))
                for view in range(1, views + 1)])
        if self.config.tta:  # the sets validation checks: val, and a target's labelled pictures
            for name in ("val", "target"):
                if name in self.data.sets and (self.data.sets[name].labels >= 0).any():
                    inputs.mirrored[name] = self.features(name, ("mirror",), mirror)
        return inputs

    @functools.cached_property
    def _members(self) -> list:
        backbone = self.model.backbone
        return backbone.members if isinstance(backbone, CombinedBackbone) else [backbone]

    def _frozen(self, index: int):
        """A network with BatchNorm folded, made once for all sets (and not at all if all are cached)."""
        if index not in self._folded:
            member = self._members[index]
            example = to_model_input(torch.from_numpy(self.data.train.pictures.array[:2]), member.spec.mean,
                                     member.spec.std, self.device)
            self._folded[index] = fold_batchnorm(member, example)
        return self._folded[index]

    def adapt_norm_statistics(self) -> None:
        """With the strategy's option on, every network's BatchNorm statistics measured on the training
        pictures learned from, once a run, before any feature pass. The statistics are cached like features
        (a run whose features are cached skips the pass), and set in the model either way: it is saved."""
        if self._adapted is not None:
            return
        self._adapted = {}
        if not get_strategy(self.config.strategy).adapts_norm_statistics(self.config.options):
            return
        train, rows = self.data.train, self.data.train_rows
        rows = np.arange(len(train)) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) < MIN_PICTURES:  # nothing to measure: the features stay the plain ones, keyed as such
            return
        learned = hashlib.sha256(rows.tobytes()).hexdigest()[:16]  # which training pictures: a draw or all
        cache = EmbeddingCache(paths.cache_dir())
        for index, (member, identity) in enumerate(zip(self._members, self.weights())):
            if not has_norm_statistics(member):  # a ViT: nothing to adapt, and its features are the plain ones
                continue
            adapted = f":norms:{RECIPE}:{train.fingerprint}:{learned}"

            def compute(member=member):
                progress = throttled(lambda done, total: self.report("on_features", done=done, total=total,
                                                                     split="train:statistics"))
                # Every process measures all of them, in the same batches: the same statistics on each as
                # one process alone would find (a share each, averaged, would weigh the batches otherwise).
                with timed(self.timings, "norm_statistics_s"):
                    adapt_norm_statistics(member, train.pictures.array, device=self.device, rows=rows,
                                          should_stop=self.should_stop, on_progress=progress)
                return statistics_vector(member)

            key = embedding_key("norm-statistics", identity + adapted, self.config.image_size)
            load_statistics_vector(member, cached(cache, key, compute, self.world))
            self._adapted[index] = adapted

    def identities(self) -> list[str]:
        """What makes each network's features what they are: its weights, and statistics adapted to which pictures."""
        self.adapt_norm_statistics()
        return [identity + self._adapted.get(index, "") for index, identity in enumerate(self.weights())]

    def features(self, name: str, variant: tuple = (), transform=None) -> np.ndarray:
        """One set's features (of the plain pictures, or of a variant of them), each network's cached."""
        found = self.data.sets[name]
        cache = EmbeddingCache(paths.cache_dir())
        split = ":".join((name, *map(str, variant)))  # how the progress names this pass
        world = self.world
        parts = []
        for index, identity in enumerate(self.identities()):  # each network's features cached on their own
            def compute(index=index):
                require_free_space(cache.root, len(found) * self._members[index].spec.feature_dim * 4,
                                   "the computed features")
                progress = throttled(lambda done, total: self.report("on_features", done=done, total=total,
                                                                     split=split))
                with timed(self.timings, "embedding_s"):
                    return world.gather_rows(compute_embeddings(
                        self._frozen(index), found.pictures.array, device=self.device, on_progress=progress,
                        should_stop=self.should_stop, transform=transform, rows=world.block(len(found))))

            key = embedding_key(found.fingerprint, name, identity, self.config.image_size, *variant)
            parts.append(cached(cache, key, compute, world))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def prepare_features(self, x, training):
        return x.to(self.device, non_blocking=True)

    @functools.cached_property
    def _augmenting(self) -> torch.Generator:
        # The order of the batches must be the same on every process, the random crops need not: a
        # generator of their own, so that shares of different sizes do not shift the next epoch's order.
        if not self.world.active:
            return self.generator
        return torch.Generator().manual_seed(self.config.seed + 7919 * (self.world.rank + 1))

    def prepare_pictures(self, phase, raw, training):
        spec = self.model.backbone.spec
        x = to_model_input(raw, spec.mean, spec.std, self.device)
        return augment(x, self._augmenting) if training and phase.augment else x

    # -- batches -----------------------------------------------------------------------------------
    def batches(self, phase, inputs: Inputs, prepare, eval_batch: int) -> PhaseData:
        """The phase's batches: training (the run's draw, in every copy), validation, the labelled target
        as a check set, and the extra streams the phase draws each step."""
        config, device, data = self.config, self.device, self.data
        share = (self.world.rank, self.world.size) if self.world.active else None

        def held_out(values, labels) -> ArrayBatches:
            return ArrayBatches(values, labels, eval_batch, False, device=device, share=share)

        def stream(values, labels) -> ArrayBatches:
            return ArrayBatches(values, labels, config.batch_size, True, self.generator, device)

        train_inputs, train_labels = inputs.by_set["train"], np.tile(data.train.labels, inputs.copies)
        if data.train_rows is not None:  # the same pictures in every copy
            rows = np.concatenate([data.train_rows + copy * len(data.train) for copy in range(inputs.copies)])
            train_inputs, train_labels = train_inputs.take(rows, axis=0), train_labels[rows]  # pictures stay unread
        phase_data = PhaseData(
            train=ArrayBatches(train_inputs, train_labels, config.batch_size, True, self.generator, device,
                               balanced=data.balanced, share=share),
            val=held_out(inputs.by_set["val"], data.val.labels), prepare=prepare, tta=config.tta)
        if "val" in inputs.mirrored:
            phase_data.mirrored["val"] = held_out(inputs.mirrored["val"], data.val.labels)
        if data.target is not None:
            labels = data.target.labels
            labelled = labels >= 0
            if labelled.any():
                phase_data.checks["target"] = held_out(inputs.by_set["target"].take(np.flatnonzero(labelled), axis=0),
                                                       labels[labelled])
                if "target" in inputs.mirrored:
                    phase_data.mirrored["target"] = held_out(inputs.mirrored["target"][labelled], labels[labelled])
            if "target" in phase.streams:  # pictures only: the labels stay here, as zeros go with the batches
                phase_data.streams["target"] = stream(inputs.by_set["target"], np.zeros(len(labels), dtype=np.int64))
        if "joint" in phase.streams:  # a second labelled dataset: its labels go with its pictures
            phase_data.streams["joint"] = stream(inputs.by_set["joint"], data.joint.labels)
        return phase_data

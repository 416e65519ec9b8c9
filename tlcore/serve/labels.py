"""Labels that look wrong: out-of-sample probabilities from k-fold logistic regression on the pictures'
features (seconds, not a retraining of the network per fold), then cleanlab's label-issue finder,
ranked from the most suspicious.

A picture's probabilities come from a model that never saw it (cross-validation), so a picture whose
given class gets a low probability there is one the other pictures of its class do not vouch for:
a likely wrong label, or an odd picture worth a look.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from tlcore import paths
from tlcore.config import RunConfig
from tlcore.data.decoding import SamplePictures
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError, Manifest
from tlcore.models.weights import create_backbone
from tlcore.training.embeddings import EmbeddingCache, compute_embeddings, embedding_key

FOLDS = 5


@dataclass(frozen=True)
class Suspect:
    """A picture whose label looks wrong."""

    path: str
    key: str
    given: str
    suggested: str  # the class the other pictures vouch for most
    score: float  # cleanlab's label quality, 0 to 1: the lower, the more suspicious


@dataclass(frozen=True)
class LabelCheck:
    suspects: list[Suspect]  # the most suspicious first
    pictures: int
    seconds: float
    folds: int


def picture_features(manifest: Manifest, *, backbone: str, device: torch.device,
                     on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Every picture's features (all splits, in manifest order), from the embedding cache when there."""
    cache = ImageCache(paths.cache_dir())
    key = embedding_key(manifest.fingerprint(), "all pictures", f"{backbone}:pretrained", manifest.image_size)

    def compute() -> np.ndarray:
        network = create_backbone(backbone, pretrained=True).to(device)
        pictures = SamplePictures(manifest.samples, cache, manifest.image_size).array
        return compute_embeddings(network, pictures, device=device, on_progress=on_progress)

    return EmbeddingCache(paths.cache_dir()).get_or_compute(key, compute)[0]


def out_of_sample_probabilities(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int]:
    """Each picture's class probabilities from a logistic regression fitted without it (k-fold).

    Returns the probabilities [N, C] and the number of folds. Raises DataError when a class has fewer
    than two pictures (no fold could hold one out and still learn it).
    """
    smallest = int(np.bincount(labels).min())
    if smallest < 2:
        raise DataError("Checking the labels needs at least 2 pictures in every class.")
    folds = min(FOLDS, smallest)
    normalised = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    model = LogisticRegression(max_iter=2000, C=1.0)  # solved to convergence, as a linear probe is
    probabilities = cross_val_predict(model, normalised, labels, method="predict_proba",
                                      cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return probabilities, folds


def check_labels(manifest: Manifest, *, backbone: str = RunConfig.backbone, device: torch.device | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> LabelCheck:
    """The pictures whose labels look wrong, the most suspicious first (cleanlab's ranking)."""
    started = time.perf_counter()
    device = device or torch.device("cpu")
    labels = np.fromiter((s.label for s in manifest.samples), dtype=np.int64, count=len(manifest.samples))
    features = picture_features(manifest, backbone=backbone, device=device, on_progress=on_progress)
    probabilities, folds = out_of_sample_probabilities(features, labels)
    # n_jobs=1: by default cleanlab forks a process pool, and a fork of the app's server (threads, torch's
    # thread pools) can hang for good; one process takes milliseconds at a dataset's size.
    ranked = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    scores = get_label_quality_scores(labels, probabilities)
    suspects = [Suspect(manifest.samples[i].path, manifest.samples[i].key, manifest.classes[labels[i]],
                        manifest.classes[int(probabilities[i].argmax())], round(float(scores[i]), 4))
                for i in ranked]
    return LabelCheck(suspects, len(labels), round(time.perf_counter() - started, 2), folds)

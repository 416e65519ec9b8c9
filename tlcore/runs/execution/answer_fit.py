"""After training: the kept model's answers made honest (tlcore.models.answering), fitted on the run's
own pictures.

The temperature is fitted on the validation pictures' logits; the training pictures kept for the
familiarity score are a draw of at most REMEMBERED_LIMIT of those learned from, every class in its
share; the validation pictures' scores are what a new picture's familiarity is measured against.
"""
from __future__ import annotations

import numpy as np
import torch

from tlcore.models.answering import (REMEMBERED_LIMIT, Answers, nearest_similarity, unit_length)
from tlcore.runs.execution.run_data import RunData
from tlcore.training.calibration import (calibration_error, fit_temperature, held_out_error, reliability,
                                         softmax)
from tlcore.training.embeddings import compute_embeddings

FOLDING_PAYS = 256  # pictures from which folding BatchNorm first saves more than it costs


def remembered_rows(labels: np.ndarray, limit: int = REMEMBERED_LIMIT, seed: int = 0) -> np.ndarray:
    """At most limit indices of labels, each class keeping its share (at least one picture each)."""
    labels = np.asarray(labels)
    if len(labels) <= limit:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        keep = max(1, int(round(limit * len(members) / len(labels))))
        chosen.append(rng.choice(members, size=min(keep, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def fit_answers(model, data: RunData, features, seed: int = 0) -> tuple[Answers, dict]:
    """The run's Answers and the figures to show of them.

    features: (set name, row indices or None for all) -> float32 features of the kept model's body.
    Returns:
        (answers, figures): figures holds the status fields (temperature, ece_before, ece_after) and
        "reliability" (bins before and after scaling) for the Runs page.
    """
    val_features, val_labels = features("val", None), data.val.labels
    # A run with a target is meant for pictures unlike its training ones: familiarity would refuse them.
    # Familiarity is a share of the validation pictures: with fewer than 20 of them, 0.05 means "less familiar
    # than the least familiar of them", which refuses about 1 known picture in (their number + 1).
    compares = data.target is None
    learned = np.arange(len(data.train)) if data.train_rows is None else np.unique(data.train_rows)
    rows = learned[remembered_rows(data.train.labels[learned], seed=seed)]
    remembered = unit_length(torch.from_numpy(features("train", rows))) if compares else None
    head = model.head
    with torch.inference_mode():
        parameter = next(head.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        logits = head.eval()(torch.from_numpy(val_features).to(device)).float().cpu().numpy()
        known = nearest_similarity(torch.from_numpy(val_features), remembered).sort().values if compares else None
    temperature = fit_temperature(logits, val_labels)
    before, after = softmax(logits), softmax(logits, temperature)
    figures = {"temperature": round(temperature, 4),
               "ece_before": round(calibration_error(before, val_labels), 4),
               "ece_after": round(held_out_error(logits, val_labels, seed=seed), 4),
               "reliability": {"before": reliability(before, val_labels), "after": reliability(after, val_labels)}}
    return Answers(temperature=temperature, remembered=remembered, known_scores=known), figures


def body_features(model, data: RunData, device: torch.device, should_stop):
    """features for fit_answers from the kept model's body, described afresh (a body that trained)."""
    def features(name: str, rows: np.ndarray | None) -> np.ndarray:
        pictures = data.sets[name].pictures.array
        chosen = pictures if rows is None else pictures.take(rows, axis=0)  # still unread: a batch at a time
        return compute_embeddings(model.backbone, chosen, device=device, should_stop=should_stop,
                                  fold=len(chosen) >= FOLDING_PAYS)
    return features


def cached_features(phase_data):
    """features for fit_answers from the feature pass's cache (a body that never trained: the same numbers)."""
    def features(name: str, rows: np.ndarray | None) -> np.ndarray:
        values = phase_data.features(name)
        return values if rows is None else values[rows]
    return features

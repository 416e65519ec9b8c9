"""Honest probabilities: one temperature fitted on the validation pictures' logits, and how far a model's
probabilities are from how often it is right.

Modern networks are too sure of themselves; dividing the logits by one number fitted on held-out pictures
fixes most of it without changing any answer (Guo et al. 2017, "On Calibration of Modern Neural Networks").
The expected calibration error (ECE) is the gap between confidence and accuracy, averaged over 15 bins of
confidence weighted by how many pictures fall in each.
"""
from __future__ import annotations

import math

import numpy as np

BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)  # beyond these the fit is following a handful of pictures, not a trend


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """Logits that give these probabilities (up to a constant per row, which softmax ignores)."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, None))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T for which softmax(logits / T) gives the labels the highest likelihood."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    rows = np.arange(len(labels))

    def negative_log_likelihood(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, labels]))

    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    fitted = golden_section_minimum(negative_log_likelihood, low, high)
    return float(np.exp(no_surer_than_the_evidence(logits, labels, fitted, high)))


def golden_section_minimum(function, low: float, high: float, tolerance: float = 1e-4) -> float:
    """Where a function with one minimum between low and high has it (golden-section search). Every run
    fits its temperature in its worker: this is some twenty evaluations, where importing scipy's
    optimizer would cost the run half a second."""
    ratio = (math.sqrt(5) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    at_left, at_right = function(left), function(right)
    while high - low > tolerance:
        if at_left < at_right:
            high, right, at_right = right, left, at_left
            left = high - ratio * (high - low)
            at_left = function(left)
        else:
            low, left, at_left = left, right, at_right
            right = low + ratio * (high - low)
            at_right = function(right)
    return (low + high) / 2


def no_surer_than_the_evidence(logits: np.ndarray, labels: np.ndarray, log_t: float, high: float) -> float:
    """log_t, raised where needed so the mean confidence stays at most (right + 1) / (pictures + 2).

    Where every validation picture is right, the likelihood keeps rising as the temperature falls, and the fit
    would make every answer 100% sure on the strength of a few dozen pictures. Laplace's rule of succession
    says what they support: after k right of n, the next is right with probability (k + 1) / (n + 2)."""
    right = int((logits.argmax(axis=1) == labels).sum())
    if right < len(labels):  # a mistake among them bounds the fit already
        return log_t
    limit = (right + 1) / (len(labels) + 2)

    def mean_confidence(value: float) -> float:
        return float(softmax(logits, np.exp(value)).max(axis=1).mean())

    if mean_confidence(log_t) <= limit:
        return log_t
    low = log_t  # mean confidence falls as the temperature rises: bisect between the fit and the top
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if mean_confidence(middle) > limit else (low, middle)
    return high


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per bin of confidence (the top probability): its range, how many pictures, their mean confidence and
    how often they were right. Empty bins are left out."""
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    found = []
    for index in range(bins):
        members = which == index
        if members.any():
            found.append({"low": round(float(edges[index]), 4), "high": round(float(edges[index + 1]), 4),
                          "count": int(members.sum()), "confidence": round(float(confidence[members].mean()), 4),
                          "accuracy": round(float(right[members].mean()), 4)})
    return found


def calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: sum over bins of (share of pictures) x |accuracy - confidence|."""
    found = reliability(probabilities, labels, bins)
    total = sum(b["count"] for b in found)
    if not total:
        return 0.0
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in found) / total)


def held_out_error(logits: np.ndarray, labels: np.ndarray, folds: int = 2, seed: int = 0) -> float:
    """The ECE after scaling on pictures the temperature was not fitted on: each fold's temperature fitted on
    the other folds, every picture's scaled probabilities pooled. Fitting and measuring on the same pictures
    would flatter the fit."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if len(labels) < 2 * folds:
        return calibration_error(softmax(logits, fit_temperature(logits, labels)), labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    scaled = np.empty_like(logits)
    for fold in np.array_split(order, folds):
        rest = np.setdiff1d(order, fold)
        scaled[fold] = softmax(logits[fold], fit_temperature(logits[rest], labels[rest]))
    return calibration_error(scaled, labels)

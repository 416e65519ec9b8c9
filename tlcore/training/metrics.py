"""Classification metrics from predictions: accuracy, confusion matrix, per-class precision/recall/F1."""
import numpy as np


def confusion_matrix(targets, predictions, num_classes: int) -> np.ndarray:
    """Counts with rows = true class and columns = predicted class."""
    targets = np.asarray(targets, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    flat = targets * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_scores(confusion: np.ndarray) -> dict[str, list[float]]:
    """Precision, recall, F1 and support per class; a class never predicted has precision 0, not NaN."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(true_positive), where=both > 0)
    return {
        "precision": precision.round(4).tolist(),
        "recall": recall.round(4).tolist(),
        "f1": f1.round(4).tolist(),
        "support": actual.astype(int).tolist(),
    }


def accuracy(confusion: np.ndarray) -> float:
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else 0.0


def normalize_rows(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each true class given each prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)

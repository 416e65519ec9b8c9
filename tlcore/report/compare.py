"""Several runs side by side, and whether one of them is really better: pure functions of run data.

An accuracy measured on 30 validation pictures moves by 3.3 points with one picture, so each
accuracy carries a 95% Wilson interval (it stays inside 0-100% and behaves on small counts, where
the textbook "p ± 1.96·se" does not). A run is named best only when its interval lies wholly above
the runner-up's; otherwise the verdict is "no clear difference". Runs are judged on the kept
model (the best epoch), which is what Predict and the export use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tlcore.chance import guessing_words

Z_95 = 1.96


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion.

    Args:
        successes: how many of the n were right.
        n: how many there were (at least 1).
        z: the normal quantile; 1.96 for 95%.

    Returns:
        (low, high), both within [0, 1].
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"Need 0 <= successes <= n and n >= 1, got {successes} of {n}.")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Accuracy:
    """Right answers out of the validation pictures of one epoch, with its 95% interval."""

    correct: int
    total: int
    epoch: int

    @property
    def value(self) -> float:
        return self.correct / self.total

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.total)


@dataclass(frozen=True)
class RunRecord:
    """What compare_runs needs of one run, as read from its folder."""

    label: str  # the run's name for people
    events: list[dict]
    status: dict


@dataclass(frozen=True)
class RunRow:
    """One run in the comparison; best and final are None before its first finished epoch."""

    label: str
    state: str
    train_pictures: int | None
    val_pictures: int | None
    best: Accuracy | None
    final: Accuracy | None
    seconds: float | None
    val_per_class: tuple[tuple[str, int], ...] | None = None  # to tell whether runs were checked alike
    target: Accuracy | None = None  # the kept model's accuracy where it will be used (a labelled target)

    @property
    def judged(self) -> bool:
        return self.best is not None


@dataclass(frozen=True)
class Verdict:
    """Which run is best, or why none can be named; ``text`` says it in one sentence."""

    winner: str | None  # a label, when one run is clearly best
    text: str
    same_pictures: bool  # whether the judged runs were validated on equally many pictures per class


@dataclass(frozen=True)
class Comparison:
    rows: list[RunRow]
    verdict: Verdict


def compare_runs(records: list[RunRecord]) -> Comparison:
    """Rows for the chosen runs (in the given order) and the verdict on them."""
    rows = [summarize_run(record) for record in records]
    return Comparison(rows, judge(rows))


def summarize_run(record: RunRecord) -> RunRow:
    """One run's pictures, best and last validation accuracy, and training time."""
    epochs = [e for e in record.events if e.get("type") == "epoch"]
    counts = _split_counts(record.events)
    scored = [_accuracy(e) for e in epochs]
    scored = [a for a in scored if a is not None]
    best = _kept_epoch(scored, record.status.get("best_epoch"))
    val = counts.get("val") if counts else (scored[-1].total if scored else None)
    kept = next((e for e in epochs if best is not None and e["epoch"] == best.epoch), None)
    return RunRow(label=record.label, state=record.status.get("state", "failed"),
                  train_pictures=counts.get("train") if counts else None, val_pictures=val,
                  best=best, final=scored[-1] if scored else None, seconds=_seconds(record.status),
                  val_per_class=_val_counts(record.events),
                  target=_accuracy(kept, "target_confusion") if kept else None)


def judge(rows: list[RunRow]) -> Verdict:
    """Name the best run when its 95% interval clears the runner-up's, else say why not.

    Runs with no finished epoch are listed but not judged.
    """
    judged = sorted((r for r in rows if r.judged), key=lambda r: r.best.value, reverse=True)
    same = len({(r.val_per_class, r.best.total) for r in judged}) <= 1
    if len(rows) == 1:
        return Verdict(None, f"Pick another run to compare {rows[0].label} with.", same)
    if not judged:
        return Verdict(None, "None of these runs has finished a round of training (epoch) yet, so there is "
                             "nothing to judge.", same)
    if len(judged) == 1:
        return Verdict(None, f"Only {judged[0].label} has finished a round of training (epoch); there is "
                             "nothing to compare it with yet.", same)
    top, second = judged[0], judged[1]
    if top.best.interval[0] > second.best.interval[1]:
        return Verdict(top.label, f"{top.label} is best: {accuracy_with_interval(top.best)} against "
                                  f"{accuracy_with_interval(second.best)} for {second.label}.", same)
    sizes = sorted({r.best.total for r in (top, second)})
    pictures = " and ".join(str(n) for n in sizes)
    shares = " and ".join(f"{100 / n:.2g}%" for n in sizes)
    return Verdict(None, f"No clear difference: the intervals overlap; with {pictures} validation pictures, "
                         f"one picture is {shares}.", same)


def guessing_warning(events: list[dict], status: dict) -> str | None:
    """Words for a run whose kept model is no better than guessing (tlcore.chance); None when it is better
    or has no finished round."""
    epochs = [e for e in events if e.get("type") == "epoch" and e.get("confusion")]
    kept = _kept_epoch([a for a in map(_accuracy, epochs) if a is not None], status.get("best_epoch"))
    if kept is None:
        return None
    classes = len(next(e for e in epochs if e["epoch"] == kept.epoch)["confusion"])
    return guessing_words(kept.correct, kept.total, classes)


def accuracy_with_interval(accuracy: Accuracy) -> str:
    """'91% (86–94%)': the accuracy and its 95% interval, in whole percent."""
    low, high = accuracy.interval
    return f"{_percent(accuracy.value)} ({low * 100:.0f}–{_percent(high)})"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _accuracy(event: dict, table: str = "confusion") -> Accuracy | None:
    """Right answers out of all, from one of the epoch's confusion matrices (the diagonal is right)."""
    matrix = event.get(table)
    if not matrix:
        return None
    total = sum(sum(row) for row in matrix)
    if total < 1:
        return None
    return Accuracy(sum(matrix[i][i] for i in range(len(matrix))), total, event["epoch"])


def _kept_epoch(scored: list[Accuracy], best_epoch) -> Accuracy | None:
    """The epoch whose model the run kept: the status's best epoch, else the first highest."""
    named = [a for a in scored if a.epoch == best_epoch]
    if named:
        return named[-1]
    return max(scored, key=lambda a: a.value) if scored else None  # max keeps the first of equals


def _dataset_event(events: list[dict]) -> dict | None:
    return next((e for e in events if e.get("type") == "dataset"), None)


def _val_counts(events: list[dict]) -> tuple[tuple[str, int], ...] | None:
    """(class, validation pictures) pairs, sorted, when the run's dataset event says so."""
    counts = _class_counts(events)
    return tuple(sorted((name, splits.get("val", 0)) for name, splits in counts.items())) if counts else None


def _split_counts(events: list[dict]) -> dict[str, int]:
    """Split -> pictures (train, val), summed over classes; {} when the run does not say."""
    totals: dict[str, int] = {}
    for splits in (_class_counts(events) or {}).values():
        for split, count in splits.items():
            totals[split] = totals.get(split, 0) + count
    return totals


def _class_counts(events: list[dict]) -> dict[str, dict[str, int]] | None:
    """The dataset event's counts (class -> split -> pictures), checked: a damaged one reads as None."""
    event = _dataset_event(events)
    counts = event.get("counts") if event else None
    if not isinstance(counts, dict):
        return None
    for splits in counts.values():
        if not isinstance(splits, dict) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in splits.values()):
            return None
    return counts


def _seconds(status: dict) -> float | None:
    if status.get("wall_s") is not None:
        return status["wall_s"]
    started, ended = status.get("started_at"), status.get("ended_at")
    return ended - started if started and ended else None

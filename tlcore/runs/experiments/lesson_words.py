"""What a lesson's runs showed, in sentences written from their results (grid.results rows).

A lesson's card promises nothing about its outcome: on another machine, with other seeds or after a
change to the studio, fine-tuning may win where it lost before. So the words after a lesson are made
from its numbers: who was ahead at which number of pictures and by how many points, and what that
cost in time. Accuracies are means over a lesson's seeds, of the runs that succeeded.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

CLOSE = 0.01  # within a point: too small a difference to name a winner
NEAR_GUESSING = 0.10  # within ten points of guessing: the model learnt next to nothing


def conclusion(lesson_id: str, rows: list[dict], *, classes: int) -> list[str]:
    """The lesson's result in sentences; empty until one of its runs has succeeded."""
    if not any(_scored(row, "best_val_acc") for row in rows):
        return []
    return WRITERS[lesson_id](rows, classes)


def _scored(row: dict, measure: str) -> bool:
    return row["state"] == "succeeded" and row.get(measure) is not None


def scores(rows: list[dict], measure: str = "best_val_acc") -> dict[str, dict[int, float]]:
    """Arm -> pictures per class -> mean of the measure over its succeeded runs."""
    found: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if _scored(row, measure):
            found[row["arm"]][row["per_class"]].append(row[measure])
    return {arm: {size: statistics.mean(values) for size, values in sizes.items()} for arm, sizes in found.items()}


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def points(difference: float) -> str:
    count = round(abs(difference) * 100)
    return f"{count} point{'s' * (count != 1)}"


def size_words(size: int) -> str:
    return "every picture" if size == 0 else f"{size} picture{'s' * (size != 1)} per class"


def mid(arm: str) -> str:
    """An arm's label inside a sentence: 'Feature extraction' -> 'feature extraction' (ImageNet stays)."""
    return arm[:1].lower() + arm[1:]


def _sizes(table: dict[str, dict[int, float]]) -> list[int]:
    """The sizes measured, fewest pictures first (0, every picture, last)."""
    return sorted({size for sizes in table.values() for size in sizes}, key=lambda s: s or float("inf"))


def race(table: dict, first: str, second: str, size: int) -> str | None:
    """'With 5 pictures per class, A scored 62% and B 57%: A was ahead by 5 points.'"""
    if size not in table.get(first, {}) or size not in table.get(second, {}):
        return None
    a, b = table[first][size], table[second][size]
    said = f"With {size_words(size)}, {mid(first)} scored {pct(a)} and {mid(second)} {pct(b)}"
    if abs(a - b) < CLOSE:
        return f"{said}: within a point of each other."
    return f"{said}: {mid(first if a > b else second)} was ahead by {points(a - b)}."


def ranking(table: dict, size: int) -> str | None:
    """'With 5 pictures per class: A 70%, B 62%, C 41%.'"""
    ranked = sorted(((sizes[size], arm) for arm, sizes in table.items() if size in sizes), reverse=True)
    if not ranked:
        return None
    return f"With {size_words(size)}: " + ", ".join(f"{mid(arm)} {pct(value)}" for value, arm in ranked) + "."


def time_taken(rows: list[dict], quick: str, slow: str) -> str | None:
    """How long the runs of two arms took, on average, and the ratio."""
    took = {arm: [r["seconds"] for r in rows if r["arm"] == arm and r["state"] == "succeeded" and r["seconds"]]
            for arm in (quick, slow)}
    if not took[quick] or not took[slow]:
        return None
    a, b = statistics.mean(took[quick]), statistics.mean(took[slow])
    if b < a:
        quick, slow, a, b = slow, quick, b, a
    return (f"A run of {mid(quick)} took {a:.0f} s on average, one of {mid(slow)} {b:.0f} s"
            + (f": {b / a:.1f} times as long." if b >= 1.5 * a else ", about as long."))


def _pretraining(rows: list[dict], classes: int) -> list[str]:
    table = scores(rows)
    pretrained, scratch = "Pretrained (feature extraction)", "From scratch"
    sizes = _sizes(table)
    said = [race(table, pretrained, scratch, size) for size in dict.fromkeys([sizes[0], sizes[-1]])]
    guessing = 1 / classes
    if sizes[0] in table.get(scratch, {}):
        level = table[scratch][sizes[0]]
        near = "barely better than" if level < guessing + NEAR_GUESSING else "well above"
        said.append(f"From scratch with {size_words(sizes[0])} it scored {pct(level)}, {near} guessing "
                    f"({pct(guessing)}).")
    return [sentence for sentence in said if sentence]


def _extract_or_tune(rows: list[dict], classes: int) -> list[str]:
    table = scores(rows)
    extract, tune = "Feature extraction", "Fine-tuning"
    said = [race(table, extract, tune, size) for size in _sizes(table)]
    said.append(time_taken(rows, extract, tune))
    both = [s for s in _sizes(table) if s in table.get(extract, {}) and s in table.get(tune, {})]
    won = [s for s in both if table[tune][s] - table[extract][s] >= CLOSE]
    if both and not won:
        said.append("Here fine-tuning bought no accuracy for its extra time at any of these sizes.")
    elif won:
        said.append(f"Fine-tuning was ahead with {', '.join(size_words(s) for s in won)}; whether that is worth "
                    "its time is the question to weigh.")
    return [sentence for sentence in said if sentence]


def _own_source(rows: list[dict], classes: int) -> list[str]:
    table = scores(rows)
    sizes = _sizes(table)
    said = [ranking(table, size) for size in dict.fromkeys([sizes[0], sizes[-1]])]
    own = [arm for arm in table if arm.startswith("From your source run")]
    for other in ("From scratch", "From ImageNet (feature extraction)"):
        size = sizes[0]
        mine = [table[arm][size] for arm in own if size in table[arm]]
        if mine and size in table.get(other, {}):
            gap = max(mine) - table[other][size]
            words = "within a point of" if abs(gap) < CLOSE else f"{points(gap)} {'ahead of' if gap > 0 else 'behind'}"
            said.append(f"With {size_words(size)}, your source run's best was {words} {mid(other)}.")
    return [sentence for sentence in said if sentence]


def _domain_shift(rows: list[dict], classes: int) -> list[str]:
    validation, target = scores(rows), scores(rows, "target_acc")
    said = []
    for arm, sizes in target.items():
        size = max(sizes, key=lambda s: s or float("inf"))
        seen = validation.get(arm, {}).get(size)
        if seen is not None:
            said.append(f"{arm}: {pct(seen)} on the validation pictures, {pct(sizes[size])} where it will be "
                        f"used ({points(seen - sizes[size])} {'lost' if seen >= sizes[size] else 'gained'}).")
    aligned = "Domain alignment (DANN)"
    others = {arm: max(sizes.values()) for arm, sizes in target.items() if arm != aligned}
    if aligned in target and others:
        best_other = max(others, key=others.get)
        gap = max(target[aligned].values()) - others[best_other]
        words = "within a point of" if abs(gap) < CLOSE else f"{points(gap)} {'ahead of' if gap > 0 else 'behind'}"
        said.append(f"Where the model will be used, domain alignment was {words} {mid(best_other)}, the best "
                    "of the others.")
    return said


def _few_pictures(rows: list[dict], classes: int) -> list[str]:
    table = scores(rows)
    return [sentence for sentence in (ranking(table, size) for size in _sizes(table)) if sentence]


WRITERS = {"pretraining": _pretraining, "extract-or-tune": _extract_or_tune, "own-source": _own_source,
           "domain-shift": _domain_shift, "few-pictures": _few_pictures}

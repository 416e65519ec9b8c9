"""A model no better than guessing is said to be, on the Runs page and at the end of the CLI's training."""
import io
import math

import numpy as np

from tlcore.chance import guessing_words, luck_limit
from tlcore.report.compare import guessing_warning
from tlcore.runs.execution.cli_progress import ProgressBar
from tlcore.training.loop import FitResult


def binomial_tail(right: int, pictures: int, p: float) -> float:
    return sum(math.comb(pictures, k) * p ** k * (1 - p) ** (pictures - k) for k in range(right, pictures + 1))


def test_the_luck_limit_is_what_guessing_reaches_more_often_than_one_time_in_20():
    for pictures, classes in ((10, 2), (200, 2), (100, 5), (30, 10), (7, 3)):
        limit = luck_limit(pictures, classes)
        assert binomial_tail(limit, pictures, 1 / classes) > 0.05  # reached that often by luck
        assert limit == pictures or binomial_tail(limit + 1, pictures, 1 / classes) <= 0.05  # one more is not
    assert luck_limit(10, 2) == 8 and luck_limit(200, 2) == 112
    assert luck_limit(4, 2) == 4  # on 4 pictures, even all right is no proof
    assert luck_limit(0, 2) == luck_limit(10, 1) == 0


def test_an_accuracy_at_chance_is_said_to_have_learnt_nothing():
    at_chance = guessing_words(100, 200, 2)
    assert at_chance.startswith("It has learnt nothing it can show: right on 50% of the 200 pictures kept aside")
    assert "on 200 pictures luck alone reaches 56% more often than 1 time in 20" in at_chance
    assert guessing_words(110, 200, 2).startswith("It may have learnt nothing: right on 55%")
    assert guessing_words(113, 200, 2) is None and guessing_words(180, 200, 2) is None
    assert guessing_words(5, 10, 1) is None  # one class: nothing to guess between


def test_the_warning_reads_the_kept_rounds_confusion_matrix():
    epoch = lambda n, matrix: {"type": "epoch", "epoch": n, "confusion": matrix}
    events = [epoch(1, [[50, 50], [50, 50]]), epoch(2, [[90, 10], [10, 90]])]
    assert guessing_warning(events, {"best_epoch": 2}) is None
    assert "right on 50% of the 200 pictures" in guessing_warning(events, {"best_epoch": 1})
    assert guessing_warning([], {}) is None


def test_the_clis_last_lines_say_so_too():
    stream = io.StringIO()
    bar = ProgressBar(stream=stream)
    bar.on_fit_start([], 0)
    result = FitResult(best_val_acc=0.5, best_epoch=3, best_probabilities=np.full((10, 2), 0.5))
    bar.on_fit_end(result, "succeeded", None)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("succeeded in ") and lines[1].startswith("note: It has learnt nothing it can show")
    stream.truncate(0)
    stream.seek(0)
    bar.on_fit_end(FitResult(best_val_acc=1.0, best_probabilities=np.full((10, 2), 0.5)), "succeeded", None)
    assert "note:" not in stream.getvalue()

"""Comparing runs: Wilson intervals, rows read from events, and a verdict only where the data allow one."""
import pytest

from tlcore.report.compare import Accuracy, RunRecord, accuracy_with_interval, compare_runs, wilson_interval


@pytest.mark.parametrize("successes, n, low, high", [
    (7, 10, 0.3968, 0.8922),  # the textbook example (Wilson 1927; Newcombe 1998, method 3)
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),  # Newcombe 1998, table I
    (1, 1, 0.2065, 1.0),
])
def test_wilson_interval_matches_published_values(successes, n, low, high):
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=5e-4)


def test_wilson_interval_narrows_with_more_pictures_and_wider_z():
    small, large = wilson_interval(21, 30), wilson_interval(700, 1000)
    assert large[1] - large[0] < small[1] - small[0]
    assert wilson_interval(7, 10, z=2.58)[0] < wilson_interval(7, 10)[0]
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def epoch(number, right, total, classes=2):
    """An epoch event whose confusion matrix holds `right` of `total` on the diagonal."""
    first = total // classes
    right_first = min(right, first)
    confusion = [[right_first, first - right_first], [total - first - (right - right_first), right - right_first]]
    return {"type": "epoch", "phase": "head", "epoch": number, "val_acc": right / total, "confusion": confusion}


def dataset(train=40, val=30):
    return {"type": "dataset", "classes": ["a", "b"],
            "counts": {"a": {"train": train // 2, "val": val // 2}, "b": {"train": train - train // 2,
                                                                         "val": val - val // 2}}}


def record(label, scores, val=None, state="succeeded", best_epoch=None, **status):
    val = val if val is not None else (scores[0][1] if scores else 30)
    events = [dataset(val=val)] + [epoch(i, r, t) for i, (r, t) in enumerate(scores, start=1)]
    return RunRecord(label, events, {"state": state, "best_epoch": best_epoch, **status})


def test_rows_hold_pictures_best_and_last_accuracy_and_time():
    comparison = compare_runs([record("A", [(20, 30), (24, 30), (22, 30)], best_epoch=2, wall_s=61.5)])
    row = comparison.rows[0]
    assert (row.train_pictures, row.val_pictures) == (40, 30)
    assert (row.best.correct, row.best.total, row.best.epoch) == (24, 30, 2)
    assert (row.final.correct, row.final.epoch) == (22, 3)
    assert row.seconds == 61.5 and row.judged
    assert comparison.verdict.text == "Pick another run to compare A with."


def test_a_clear_winner_is_named_with_both_intervals():
    comparison = compare_runs([record("fm5 · feature extraction", [(160, 200)]),
                               record("fm5 · fine-tuning", [(190, 200)])])
    verdict = comparison.verdict
    assert verdict.winner == "fm5 · fine-tuning" and verdict.same_pictures
    assert verdict.text == ("fm5 · fine-tuning is best: 95% (91–97%) against 80% (74–85%) "
                            "for fm5 · feature extraction.")


def test_overlapping_intervals_are_no_clear_difference():
    verdict = compare_runs([record("A", [(21, 30)]), record("B", [(22, 30)])]).verdict  # 70.0% vs 73.3%
    assert verdict.winner is None
    assert verdict.text == ("No clear difference: the intervals overlap; with 30 validation pictures, "
                            "one picture is 3.3%.")


def test_the_winner_must_clear_the_runner_up_not_just_the_last():
    verdict = compare_runs([record("low", [(100, 200)]), record("high", [(180, 200)]),
                            record("close", [(176, 200)])]).verdict
    assert verdict.winner is None and "one picture is 0.5%" in verdict.text


def test_runs_without_a_finished_epoch_are_listed_but_not_judged():
    comparison = compare_runs([record("A", [(28, 30)]), record("B", [], state="running"),
                               record("C", [(10, 30)])])
    assert [row.judged for row in comparison.rows] == [True, False, True]
    assert comparison.rows[1].best is None and comparison.rows[1].val_pictures == 30
    assert comparison.verdict.winner == "A"
    only = compare_runs([record("A", [(28, 30)]), record("B", [], state="failed")]).verdict
    assert only.winner is None and only.text.startswith("Only A has finished a round")
    none = compare_runs([record("A", []), record("B", [])]).verdict
    assert none.winner is None and none.text.startswith("None of these runs")


def test_the_kept_epoch_is_the_one_the_run_kept_else_the_first_best():
    named = compare_runs([record("A", [(20, 30), (25, 30), (25, 30)], best_epoch=3)]).rows[0]
    assert named.best.epoch == 3
    first = compare_runs([record("A", [(20, 30), (25, 30), (25, 30)])]).rows[0]
    assert first.best.epoch == 2


def test_runs_checked_on_different_pictures_are_flagged():
    verdict = compare_runs([record("A", [(27, 30)]), record("B", [(170, 200)])]).verdict  # 90% and 85%
    assert not verdict.same_pictures
    assert "with 30 and 200 validation pictures, one picture is 3.3% and 0.5%" in verdict.text


def test_a_damaged_dataset_event_costs_only_the_picture_counts():
    events = [{"type": "dataset", "classes": ["a"], "counts": {"a": {"train": "many"}}}, epoch(1, 8, 10)]
    row = compare_runs([RunRecord("A", events, {"state": "succeeded"})]).rows[0]
    assert row.train_pictures is None and row.val_pictures == 10 and row.best.value == 0.8


def test_accuracy_with_interval_reads_like_the_verdict():
    assert accuracy_with_interval(Accuracy(7, 10, 1)) == "70% (40–89%)"
    assert accuracy_with_interval(Accuracy(10, 10, 1)) == "100% (72–100%)"

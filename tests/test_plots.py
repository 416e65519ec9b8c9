"""The figures show what the events say."""
import pytest

from tlcore.report import plots


def epoch_event(epoch, phase="head", val_acc=0.5, train_acc=0.6):
    return {"type": "epoch", "phase": phase, "epoch": epoch, "epochs": 3, "train_loss": 1.0 / epoch,
            "val_loss": 1.2 / epoch, "train_acc": train_acc, "val_acc": val_acc,
            "confusion": [[3, 1], [0, 4]], "per_class": {}}


def batch_event(epoch, step, steps=4, phase="head", loss=0.9):
    return {"type": "batch", "phase": phase, "epoch": epoch, "step": step, "steps": steps, "loss": loss}


def traces(figure):
    return {trace.name: trace for trace in figure.data}


def test_loss_figure_places_batches_within_their_epoch():
    events = [{"type": "fit_start"}, batch_event(1, 2), batch_event(1, 4), epoch_event(1),
              batch_event(2, 4), epoch_event(2)]
    lines = traces(plots.loss_figure(events))
    assert list(lines["training, each step"].x) == [0.5, 1.0, 2.0]
    assert list(lines["train"].x) == [1, 2] and list(lines["validation"].y) == [1.2, 0.6]


def test_accuracy_figure_marks_the_best_validation_epoch():
    events = [epoch_event(1, val_acc=0.5), epoch_event(2, val_acc=0.8), epoch_event(3, val_acc=0.7)]
    lines = traces(plots.accuracy_figure(events))
    assert list(lines["validation"].y) == [0.5, 0.8, 0.7]
    assert list(lines["best"].x) == [2] and list(lines["best"].y) == [0.8]


def test_a_new_phase_is_marked_where_it_starts():
    events = [epoch_event(1, "head"), epoch_event(2, "head"), batch_event(3, 4, phase="body"), epoch_event(3, "body")]
    figure = plots.loss_figure(events)
    assert [shape.x0 for shape in figure.layout.shapes] == [2]
    assert figure.layout.annotations[0].text == "fine-tuning starts"


@pytest.mark.parametrize("figure", [plots.loss_figure([]), plots.accuracy_figure([]), plots.compare_figure({}),
                                    plots.accuracy_bars_figure({"a run": {}})])
def test_empty_figures_say_what_will_appear(figure):
    assert not figure.data and figure.layout.annotations


def test_confusion_figure_counts_and_shares():
    counts = plots.confusion_figure([[3, 1], [0, 4]], ["cats", "dogs"], normalized=False)
    assert [list(row) for row in counts.data[0].z] == [[3, 1], [0, 4]]
    assert list(counts.data[0].y) == ["cats", "dogs"] and counts.layout.yaxis.autorange == "reversed"
    shares = plots.confusion_figure([[3, 1], [0, 4]], ["cats", "dogs"], normalized=True)
    assert [list(row) for row in shares.data[0].z] == [[0.75, 0.25], [0.0, 1.0]]
    assert list(plots.confusion_figure([[0, 0], [0, 2]], ["a", "b"], normalized=True).data[0].z[0]) == [0.0, 0.0]


def test_class_counts_figure_stacks_splits():
    figure = plots.class_counts_figure({"cats": {"train": 8, "val": 2}, "dogs": {"train": 4, "val": 1}})
    bars = traces(figure)
    assert list(bars) == ["train", "validation"] and figure.layout.barmode == "stack"
    assert list(bars["train"].y) == [8, 4] and list(bars["validation"].x) == ["cats", "dogs"]


def test_compare_figure_has_one_line_per_run_with_epochs():
    figure = plots.compare_figure({"run a": [epoch_event(1, val_acc=0.4), epoch_event(2, val_acc=0.6)],
                                   "run b": [epoch_event(1, val_acc=0.7)], "run c": [batch_event(1, 1)]})
    lines = traces(figure)
    assert list(lines) == ["run a", "run b"] and list(lines["run a"].y) == [0.4, 0.6]


def test_legends_sit_under_the_plot_where_the_toolbar_cannot_cover_them():
    events = [{"type": "epoch", "epoch": 1, "phase": "head", "train_loss": 1.0, "val_loss": 1.2,
               "train_acc": 0.5, "val_acc": 0.4}]
    for figure in (plots.loss_figure(events), plots.accuracy_figure(events),
                   plots.compare_figure({"a": events, "b": events}),
                   plots.accuracy_bars_figure({"a": {"best": (0.5, 0.3, 0.7)}, "b": {"best": (0.4, 0.2, 0.6)}})):
        legend = figure.layout.legend
        assert legend.orientation == "h" and legend.yanchor == "top" and legend.y < 0


def test_accuracy_bars_carry_their_intervals_as_error_bars():
    figure = plots.accuracy_bars_figure({
        "fm5 · feature extraction": {"best round": (0.8, 0.74, 0.85)},
        "fm5 · fine-tuning": {"best round": (0.95, 0.91, 0.97), "last round": (0.9, 0.85, 0.94)},
        "fm5 · from scratch": {}})
    bars = traces(figure)
    assert list(bars) == ["fm5 · feature extraction", "fm5 · fine-tuning"]  # no epoch, no bar
    assert figure.layout.barmode == "group"
    assert list(figure.layout.xaxis.categoryarray) == ["best round", "last round"]
    tuned = bars["fm5 · fine-tuning"]
    assert list(tuned.x) == ["best round", "last round"] and list(tuned.y) == [0.95, 0.9]
    assert list(tuned.error_y.array) == pytest.approx([0.02, 0.04])  # up to the interval's top
    assert list(tuned.error_y.arrayminus) == pytest.approx([0.04, 0.05])  # down to its bottom
    assert list(bars["fm5 · feature extraction"].x) == ["best round"]


def test_titles_fit_a_narrow_column_below_the_toolbars():
    from tlcore.report.chart_layout import TITLE_CHARS, TOOLBAR_BAND

    figures = [plots.confusion_figure([[3, 1], [0, 4]], ["cats", "dogs"], normalized=True),
               plots.meta_figure([], 2), plots.accuracy_figure([epoch_event(1)])]
    for figure in figures:
        title = figure.layout.title
        assert all(len(line) <= TITLE_CHARS for line in title.text.split("<br>")), title.text
        # The toolbars appear over the top of a chart: the title starts below them, and the margin holds it.
        assert title.yref == "container" and title.yanchor == "top" and title.pad.t >= TOOLBAR_BAND
        assert figure.layout.margin.t >= TOOLBAR_BAND + 20 * (title.text.count("<br>") + 1)
    assert figures[0].layout.title.text == "Confusion matrix (share of each<br>true class)"


def test_a_time_axis_on_a_log_scale_reads_as_times():
    from tlcore.report.experiment_report import accuracy_by_time

    rows = [{"arm": "feature extraction", "state": "succeeded", "seconds": seconds, "best_val_acc": 0.8,
             "per_class": 10, "seed": 0} for seconds in (3.2, 9.5, 24.0)]
    axis = accuracy_by_time(rows).layout.xaxis
    assert axis.type == "log"
    assert list(axis.ticktext) == ["2 s", "5 s", "10 s", "20 s", "30 s"]  # not "... 9 10 2 3"
    assert list(axis.tickvals) == [2, 5, 10, 20, 30]
    low, high = axis.range
    assert 10 ** low < 3.2 and 10 ** high > 24.0  # every run on the chart, between labelled ends

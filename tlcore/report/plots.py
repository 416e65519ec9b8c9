"""Plotly figures built from run data: pure functions of events, counts and matrices.

Nothing here reads files or knows about Streamlit; the pages pass in what they read from a run
folder (see ``runs.EventLog``) and hand the figures to ``st.plotly_chart``.
"""
from __future__ import annotations

import plotly.graph_objects as go

from tlcore.report.chart_layout import TOOLBAR_BAND, title_layout
from tlcore.training.metrics import normalize_rows

TRAIN_COLOUR = "#4c78a8"
VAL_COLOUR = "#f58518"
TARGET_COLOUR = "#2ca02c"
DOMAIN_COLOUR = "#7f7f7f"
JOINT_COLOUR = "#9467bd"
BATCH_COLOUR = "rgba(76, 120, 168, 0.35)"
SPLIT_COLOURS = {"train": TRAIN_COLOUR, "val": VAL_COLOUR, "test": "#54a24b"}
_MARGIN = dict(l=10, r=10, b=10)  # the top one holds the title (chart_layout.title_layout)
ROUND_AXIS = "round of training (epoch)"
PHASE_MARKS = {"body": "fine-tuning starts", "all": "training starts"}  # where a new part of the run begins
LEGEND_Y = -0.25  # below the x axis and its title, in plot-area fractions


def loss_figure(events: list[dict]) -> go.Figure:
    """Training loss per batch (thin line) and per epoch (train and validation), against epochs.

    Args:
        events: a run's events in order; "batch" and "epoch" events are used, others ignored.

    Returns:
        A figure; x is the epoch (a batch sits at its fraction of the epoch).
    """
    batches = [e for e in events if e.get("type") == "batch"]
    epochs = _epoch_events(events)
    figure = _base_figure("Loss: how wrong it is", ROUND_AXIS, "loss")
    if batches:
        figure.add_trace(go.Scatter(
            x=[e["epoch"] - 1 + e["step"] / max(e["steps"], 1) for e in batches],
            y=[e["loss"] for e in batches], mode="lines", name="training, each step",
            line=dict(color=BATCH_COLOUR, width=1)))
    if epochs:
        x = [e["epoch"] for e in epochs]
        figure.add_trace(go.Scatter(x=x, y=[e["train_loss"] for e in epochs], mode="lines+markers",
                                    name="train", line=dict(color=TRAIN_COLOUR)))
        figure.add_trace(go.Scatter(x=x, y=[e["val_loss"] for e in epochs], mode="lines+markers",
                                    name="validation", line=dict(color=VAL_COLOUR)))
    _mark_phases(figure, batches + epochs)
    if not batches and not epochs:
        _waiting(figure, "The loss appears with the first training batch.")
    return figure


def accuracy_figure(events: list[dict]) -> go.Figure:
    """Train and validation accuracy per epoch, with the best validation epoch marked.

    Args:
        events: a run's events in order; "epoch" events are used.

    Returns:
        A figure with accuracy from 0 to 100 %.
    """
    epochs = _epoch_events(events)
    figure = _base_figure("Accuracy: how often it is right", ROUND_AXIS, "accuracy")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if not epochs:
        return _waiting(figure, "Accuracy appears after the first epoch.")
    x = [e["epoch"] for e in epochs]
    figure.add_trace(go.Scatter(x=x, y=[e["train_acc"] for e in epochs], mode="lines+markers",
                                name="train", line=dict(color=TRAIN_COLOUR)))
    figure.add_trace(go.Scatter(x=x, y=[e["val_acc"] for e in epochs], mode="lines+markers",
                                name="validation", line=dict(color=VAL_COLOUR)))
    # Where the model will be used (a labelled target), and how well a domain classifier tells the
    # two sets of pictures apart: it falls toward 50% (a coin toss) as their features align.
    for field, name, colour in (("target_acc", "where it will be used", TARGET_COLOUR),
                                ("domain_acc", "domain classifier (50%: cannot tell)", DOMAIN_COLOUR),
                                ("joint_acc", "second dataset, training (joint)", JOINT_COLOUR)):
        points = [(e["epoch"], e[field]) for e in epochs if field in e]
        if points:
            figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                        name=name, line=dict(color=colour, dash="dot" if field == "domain_acc" else None)))
    best = max(epochs, key=lambda e: e["val_acc"])
    figure.add_trace(go.Scatter(x=[best["epoch"]], y=[best["val_acc"]], mode="markers", name="best",
                                marker=dict(symbol="star", size=14, color=VAL_COLOUR,
                                            line=dict(color="black", width=1)),
                                hovertemplate="best: %{y:.1%} at epoch %{x}<extra></extra>"))
    _mark_phases(figure, epochs)
    return figure


def meta_figure(events: list[dict], ways: int | None = None) -> go.Figure:
    """Meta-learning's practice: accuracy on each small task after adapting to it, against the tasks done.

    Args:
        events: a run's events in order; "meta" events are used.
        ways: classes per task, for the line that guessing would reach (1/N).
    """
    practice = [e for e in events if e.get("type") == "meta"]
    figure = _base_figure("Practice on small tasks: right after adapting", "small tasks done (episodes)",
                          "accuracy on the task's other pictures")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if not practice:
        return _waiting(figure, "Accuracy appears after the first small task.")
    x = [e["episode"] for e in practice]
    figure.add_trace(go.Scatter(x=x, y=[e["query_acc"] for e in practice], mode="markers", name="one task",
                                marker=dict(color=BATCH_COLOUR, size=5)))
    figure.add_trace(go.Scatter(x=x, y=[e["recent_query_acc"] for e in practice], mode="lines",
                                name="average of the last tenth", line=dict(color=TRAIN_COLOUR)))
    if ways:
        figure.add_hline(y=1 / ways, line=dict(color=DOMAIN_COLOUR, dash="dot"),
                         annotation_text=f"guessing (1 in {ways})", annotation_position="bottom right")
    return figure


def feature_map_figure(xy, labels, predicted, classes: list[str], names: list[str], title: str) -> go.Figure:
    """Pictures as points placed by what the network sees (2-D), one colour per class; a wrong answer
    is a cross. customdata holds each point's index, for a click to open its picture."""
    figure = go.Figure()
    for label, name in enumerate(classes):
        rows = [i for i in range(len(labels)) if labels[i] == label]
        figure.add_scatter(
            x=[float(xy[i][0]) for i in rows], y=[float(xy[i][1]) for i in rows], mode="markers", name=name,
            marker=dict(size=7, symbol=["circle" if predicted[i] == label else "x" for i in rows]),
            customdata=[[i] for i in rows],
            text=[f"{names[i]}: {name}" + ("" if predicted[i] == label else f", called {classes[predicted[i]]}")
                  for i in rows],
            hovertemplate="%{text}<br>click to see it<extra></extra>")
    figure.update_layout(**title_layout(title, _MARGIN), height=420 + TOOLBAR_BAND,
                         legend=dict(orientation="h", y=LEGEND_Y))
    figure.update_xaxes(showticklabels=False, title=None)
    figure.update_yaxes(showticklabels=False, title=None)
    return figure


def confusion_figure(confusion: list[list[int]], labels: list[str], normalized: bool = False) -> go.Figure:
    """A confusion matrix as a heatmap: rows are true classes, columns predicted ones.

    Args:
        confusion: counts, rows = true class, columns = predicted class.
        labels: class names in label order.
        normalized: show each row as shares of its true class instead of counts.

    Returns:
        A square-ish figure, first class at the top left.
    """
    values = normalize_rows(confusion) if normalized else confusion
    text = "%{z:.0%}" if normalized else "%{z}"
    hover = "true %{y}<br>predicted %{x}<br>" + ("%{z:.1%} of this class" if normalized else "%{z} images")
    figure = go.Figure(go.Heatmap(
        z=[list(row) for row in values], x=labels, y=labels, colorscale="Blues",
        zmin=0, zmax=1 if normalized else None, texttemplate=text, hoverinfo="skip", showscale=False))
    # Heatmaps cannot be selected in Streamlit: a transparent square over each cell carries the hover
    # and the click (customdata: the true and predicted class indices), so a cell opens its pictures.
    cells = [(i, j) for i in range(len(labels)) for j in range(len(labels))]
    figure.add_scatter(x=[labels[j] for _, j in cells], y=[labels[i] for i, _ in cells], mode="markers",
                       marker=dict(symbol="square", size=36, color="rgba(0,0,0,0)"), showlegend=False,
                       customdata=[[i, j, values[i][j]] for i, j in cells],
                       hovertemplate=hover.replace("%{z", "%{customdata[2]") + "<br>click to see them<extra></extra>")
    side = min(900, 160 + 45 * len(labels)) + TOOLBAR_BAND
    figure.update_layout(**title_layout("Confusion matrix" + (" (share of each true class)" if normalized
                                                              else " (counts)"), _MARGIN), height=side)
    figure.update_xaxes(title="predicted", side="bottom", type="category")
    figure.update_yaxes(title="true", autorange="reversed", type="category")
    return figure


def class_counts_figure(counts: dict[str, dict[str, int]]) -> go.Figure:
    """Images per class as stacked bars, one colour per split.

    Args:
        counts: class name -> split name -> images (``Manifest.counts()``).

    Returns:
        A bar figure, classes in the given order.
    """
    classes = list(counts)
    splits = [s for s in ("train", "val", "test") if any(s in c for c in counts.values())]
    figure = _base_figure("Images per class", "class", "images")
    for split in splits:
        figure.add_trace(go.Bar(x=classes, y=[counts[c].get(split, 0) for c in classes],
                                name="validation" if split == "val" else split,
                                marker_color=SPLIT_COLOURS[split]))
    figure.update_layout(barmode="stack")
    figure.update_xaxes(type="category")
    return figure


def compare_figure(runs: dict[str, list[dict]]) -> go.Figure:
    """Validation accuracy per epoch of several runs on one chart.

    Args:
        runs: a label per run -> that run's events (only "epoch" events are used).

    Returns:
        A figure with one line per run that has finished at least one epoch.
    """
    figure = _base_figure("Validation accuracy", ROUND_AXIS, "validation accuracy")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    for label, events in runs.items():
        epochs = _epoch_events(events)
        if epochs:
            figure.add_trace(go.Scatter(x=[e["epoch"] for e in epochs], y=[e["val_acc"] for e in epochs],
                                        mode="lines+markers", name=label))
    if not figure.data:
        _waiting(figure, "None of these runs has finished an epoch yet.")
    return figure


def accuracy_bars_figure(runs: dict[str, dict[str, tuple[float, float, float]]]) -> go.Figure:
    """Validation accuracy of several runs as bars, each with its 95% interval as an error bar.

    Args:
        runs: a run's label -> a measure (e.g. "best round") -> (accuracy, low, high), all in [0, 1].
            A run with no measures (no finished epoch) gets no bar.

    Returns:
        One group of bars per measure and one colour per run, named in the legend under the plot.
        Runs take plotly's colours in the given order, as compare_figure's lines do, so a run has
        the same colour in both charts when both are given the same runs.
    """
    figure = _base_figure("Accuracy with its 95% range", "", "validation accuracy")
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%")
    figure.update_layout(barmode="group", hovermode="closest")
    measures = list(dict.fromkeys(measure for values in runs.values() for measure in values))
    for label, values in runs.items():
        if not values:
            continue
        shown = [m for m in measures if m in values]
        figure.add_trace(go.Bar(
            x=shown, y=[values[m][0] for m in shown], name=label,
            error_y=dict(type="data", symmetric=False, array=[values[m][2] - values[m][0] for m in shown],
                         arrayminus=[values[m][0] - values[m][1] for m in shown], color="black", thickness=1.5),
            customdata=[values[m][1:] for m in shown],
            hovertemplate="%{y:.1%} (95% interval %{customdata[0]:.0%}–%{customdata[1]:.0%})"
                          f"<extra>{label}</extra>"))
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=measures)
    if not figure.data:
        _waiting(figure, "None of these runs has finished an epoch yet.")
    return figure


def _epoch_events(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("type") == "epoch"]


def _base_figure(title: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    # The legend goes under the plot: at the top right, the chart toolbar that appears on hover covered it.
    figure.update_layout(**title_layout(title, _MARGIN), height=360 + TOOLBAR_BAND, hovermode="x unified",
                         legend=dict(orientation="h", yanchor="top", y=LEGEND_Y, xanchor="left", x=0))
    figure.update_xaxes(title=x_title, rangemode="tozero")
    figure.update_yaxes(title=y_title, rangemode="tozero")
    return figure


def _mark_phases(figure: go.Figure, events: list[dict]) -> None:
    """A dotted line where a new training phase begins (e.g. fine-tuning after the head warm-up)."""
    first_epoch: dict[str, int] = {}
    for event in events:
        phase = event["phase"]
        first_epoch[phase] = min(first_epoch.get(phase, event["epoch"]), event["epoch"])
    for phase, epoch in sorted(first_epoch.items(), key=lambda item: item[1])[1:]:
        figure.add_vline(x=epoch - 1, line=dict(dash="dot", color="grey"),
                         annotation_text=PHASE_MARKS.get(phase, f"{phase} phase"), annotation_position="top right")  # right of the line: clear of the axis labels


def _waiting(figure: go.Figure, message: str) -> go.Figure:
    figure.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False)
    return figure

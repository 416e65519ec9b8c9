"""How sure a run's answers are against how often they are right: the reliability diagram of its kept
model on the validation pictures, before and after the temperature was fitted (run folder answers.json)."""
from __future__ import annotations

import plotly.graph_objects as go

from tlcore.report.chart_layout import TOOLBAR_BAND, title_layout

BEFORE_COLOUR = "#bab0ac"
AFTER_COLOUR = "#f58518"


def reliability_figure(bins: dict) -> go.Figure:
    """Accuracy against mean confidence per bin of confidence, each point sized by its pictures, with the
    diagonal where a confidence of p is right p of the time.

    Args:
        bins: {"before": [...], "after": [...]}, each a list of tlcore.training.calibration.reliability bins.
    """
    figure = go.Figure()
    figure.update_layout(**title_layout("How sure against how often right", dict(l=10, r=10, b=10)),
                         height=360 + TOOLBAR_BAND,
                         legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="honest: p sure, right p of the time",
                                line=dict(color="grey", dash="dot"), hoverinfo="skip"))
    for key, name, colour in (("before", "as trained", BEFORE_COLOUR), ("after", "after scaling", AFTER_COLOUR)):
        found = [b for b in bins.get(key) or [] if isinstance(b, dict)]
        if not found:
            continue
        largest = max(b["count"] for b in found)
        figure.add_trace(go.Scatter(
            x=[b["confidence"] for b in found], y=[b["accuracy"] for b in found], mode="lines+markers", name=name,
            line=dict(color=colour), marker=dict(size=[6 + 14 * (b["count"] / largest) ** 0.5 for b in found]),
            customdata=[b["count"] for b in found],
            hovertemplate="sure %{x:.0%} · right %{y:.0%} · %{customdata} pictures<extra>" + name + "</extra>"))
    figure.update_xaxes(title="how sure it was (confidence)", range=[0, 1.02], tickformat=".0%")
    figure.update_yaxes(title="how often it was right", range=[0, 1.02], tickformat=".0%")
    return figure

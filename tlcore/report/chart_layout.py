"""What every chart shares: a title that fits a narrow column and stays clear of the toolbars, and a
time axis on a log scale whose ticks read as times.

Charts sit in half-width columns, about 300 px wide in a 1024 px window with the sidebar open, and take
the whole width of a 390 px phone. Plotly neither wraps a title nor makes room for a long one: it is cut
at the chart's edge. The chart's toolbars (plotly's, and Streamlit's full-screen button) appear over its
top right corner on hover, or on a tap on a phone; a title in that band is covered. So titles are
wrapped to a column's width and start below the band.

Plotly's own ticks on a log axis label the minor steps with their first digit only, so seconds read
"... 8 9 10 2 3" where the 2 means 20 s: times get ticks of their own, in words.
"""
from __future__ import annotations

import math
import textwrap

TITLE_SIZE = 15  # px
TITLE_CHARS = 34  # a line of title at TITLE_SIZE fits a 300 px column
TITLE_LINE = 20  # px per line of title
TOOLBAR_BAND = 34  # px at the top of a chart where its toolbars appear (26 px tall, measured in Chromium)
TITLE_INDENT = 8  # px from the chart's left edge
# Steps of a time axis, in seconds: 1-2-5 up to a minute, then whole minutes and hours people count in.
TIME_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 18000, 36000, 86400)
MOST_TICKS = 6  # more labels than this crowd a 300 px axis


def wrapped(text: str, width: int = TITLE_CHARS) -> str:
    """Text broken into lines of at most ``width`` characters (at spaces), joined with plotly's line break."""
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False)) or text


def title_layout(text: str, margin: dict | None = None) -> dict:
    """Layout settings for a chart's title: wrapped, at the left, below the toolbars' band, with the top
    margin grown to hold it.

    Args:
        text: the title in one line.
        margin: the chart's other margins (left, right, bottom); the top one is set here.

    Returns:
        {"title": ..., "margin": ...}, for figure.update_layout(**...).
    """
    lines = wrapped(text)
    height = TOOLBAR_BAND + TITLE_LINE * (lines.count("<br>") + 1)
    # From the chart's own left edge, not the plot area's (which starts after the y axis's labels): the
    # whole width of a narrow column is the title's.
    return {"title": dict(text=lines, x=0, xref="container", xanchor="left", y=1, yref="container", yanchor="top",
                          pad=dict(t=TOOLBAR_BAND, l=TITLE_INDENT), font=dict(size=TITLE_SIZE), automargin=True),
            "margin": {**(margin or {}), "t": height + 10}}


def time_ticks(seconds: list[float]) -> dict:
    """A log-scale x axis for these durations: ticks at round times named in words ("20 s", "2 min"), and
    a range from the step below the shortest to the step above the longest, so both ends are labelled.

    Returns:
        Settings for figure.update_xaxes(**...); a plain log axis when there are no durations.
    """
    shown = [s for s in seconds if s and s > 0 and math.isfinite(s)]
    if not shown or min(shown) < TIME_STEPS[0] or max(shown) > TIME_STEPS[-1]:
        return {"type": "log"}
    below = [i for i, step in enumerate(TIME_STEPS) if step <= min(shown)]
    above = [i for i, step in enumerate(TIME_STEPS) if step >= max(shown)]
    first, last = below[-1], above[0]
    if first == last:  # one time, on a step: the steps either side frame it
        first, last = max(first - 1, 0), min(last + 1, len(TIME_STEPS) - 1)
    steps = list(TIME_STEPS[first:last + 1])
    low, high = steps[0], steps[-1]
    if len(steps) > MOST_TICKS:  # spread evenly over the steps, both ends kept
        steps = [steps[round(i * (len(steps) - 1) / (MOST_TICKS - 1))] for i in range(MOST_TICKS)]
    margin = 0.05  # of a decade: a point on the first or last tick is not cut in half
    return {"type": "log", "tickvals": steps, "ticktext": [time_words(step) for step in steps],
            "range": [math.log10(low) - margin, math.log10(high) + margin]}


def time_words(seconds: float) -> str:
    """'0.5 s', '20 s', '2 min', '1 h': a tick's time, in the unit people would say it in."""
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"

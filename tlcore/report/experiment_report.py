"""An experiment's results as figures, a verdict in words, and a report a teacher can hand out.

Pure functions of an experiment's result rows (tlcore.runs.experiments.grid.results): the page shows the
figures, the CLI and the page write the same self-contained HTML file (plots interactive, plotly's
script inlined once, no server) and PNG copies of the figures.
"""
from __future__ import annotations

import html
import statistics
import time
from collections import defaultdict
from pathlib import Path

import plotly.graph_objects as go
import plotly.io

from tlcore.report.chart_layout import time_ticks, title_layout
from tlcore.training.strategies import get_strategy

COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]
CLOSE = 0.01  # "within a point": differences smaller than this are not worth a sentence


def size_words(size: int) -> str:
    return "every picture" if size == 0 else f"{size} per class"


def summarise(rows: list[dict], measure: str = "best_val_acc") -> dict[str, dict[int, list[float]]]:
    """Arm -> size -> the measure of its succeeded runs (one per seed)."""
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["state"] == "succeeded" and row.get(measure) is not None:
            table[row["arm"]][row["per_class"]].append(row[measure])
    return table


def _arms(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(row["arm"] for row in rows))


def _strategy_of(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Arm -> (strategy, backbone)."""
    return {row["arm"]: (row["strategy"], row["backbone"]) for row in rows}


def _pretrained(strategy: str) -> bool:
    try:
        return get_strategy(strategy).pretrained
    except ValueError:
        return True


def _base(title: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(**title_layout(title, dict(l=10, r=10, b=10)), xaxis_title=x_title, yaxis_title=y_title,
                         template="plotly_white", legend=dict(orientation="h", y=-0.25))
    return figure


def accuracy_by_size(rows: list[dict], pictures: dict[int, int], measure: str = "best_val_acc",
                     title: str = "Accuracy by pictures per class",
                     y_title: str = "best validation accuracy") -> go.Figure:
    """An accuracy against training pictures per class (log axis), a band for the seeds' spread."""
    figure = _base(title, "training pictures per class (log scale)", y_title)
    arms = _arms(rows)
    table = summarise(rows, measure)
    for index, arm in enumerate(arms):
        sizes = sorted((s for s in table[arm] if table[arm][s]), key=lambda s: pictures.get(s, s))
        if not sizes:
            continue
        x = [pictures.get(s, s) for s in sizes]
        values = [table[arm][s] for s in sizes]
        colour = COLOURS[index % len(COLOURS)]
        name = arm
        figure.add_scatter(x=x + x[::-1], y=[max(v) for v in values] + [min(v) for v in values][::-1], fill="toself",
                           mode="lines",
                           fillcolor=colour, opacity=0.2, line=dict(width=0), hoverinfo="skip", showlegend=False,
                           legendgroup=name)
        figure.add_scatter(x=x, y=[statistics.mean(v) for v in values], mode="lines+markers", name=name,
                           line=dict(color=colour), legendgroup=name,
                           customdata=[[size_words(s), len(v)] for s, v in zip(sizes, values)],
                           hovertemplate="%{customdata[0]}: %{y:.3f} (mean of %{customdata[1]} seeds)<extra>"
                                         + html.escape(name) + "</extra>")
    figure.update_xaxes(type="log", tickvals=sorted(set(pictures.values())))
    figure.update_yaxes(tickformat=".0%")
    return figure


def pretraining_gain(rows: list[dict], pictures: dict[int, int]) -> go.Figure | None:
    """Per size, each pretrained strategy's mean accuracy minus scratch's (same network); None without scratch."""
    table = summarise(rows)
    kinds = _strategy_of(rows)
    scratch = {kinds[arm][1]: table[arm] for arm in _arms(rows) if not _pretrained(kinds[arm][0])}
    if not scratch:
        return None
    figure = _base("What pretraining bought: pretrained minus from scratch", "training pictures per class",
                   "accuracy gained")
    for index, arm in enumerate(a for a in _arms(rows) if _pretrained(kinds[a][0])):
        base = scratch.get(kinds[arm][1])
        if base is None:
            continue
        sizes = [s for s in sorted(table[arm], key=lambda s: pictures.get(s, s)) if base.get(s)]
        figure.add_bar(x=[size_words(s) for s in sizes], name=arm,
                       y=[statistics.mean(table[arm][s]) - statistics.mean(base[s]) for s in sizes],
                       marker_color=COLOURS[index % len(COLOURS)])
    figure.update_yaxes(tickformat="+.0%")
    return figure


def accuracy_by_time(rows: list[dict]) -> go.Figure:
    """Each run's accuracy against its seconds: which choice is worth its minutes."""
    figure = _base("Accuracy against training time", "time the run took (log scale)", "best validation accuracy")
    for index, arm in enumerate(_arms(rows)):
        mine = [r for r in rows if r["arm"] == arm and r["state"] == "succeeded" and r["seconds"]]
        if mine:
            figure.add_scatter(x=[r["seconds"] for r in mine], y=[r["best_val_acc"] for r in mine], mode="markers",
                               name=arm, marker=dict(color=COLOURS[index % len(COLOURS)], size=9),
                               customdata=[[size_words(r["per_class"]), r["seed"]] for r in mine],
                               hovertemplate="%{customdata[0]}, seed %{customdata[1]}: %{y:.3f} in %{x:.0f} s "
                                             "(features computed once count in the first run that needed them)")
    figure.update_xaxes(**time_ticks([r["seconds"] for r in rows if r["state"] == "succeeded" and r["seconds"]]))
    figure.update_yaxes(tickformat=".0%")
    return figure


def per_class_at_largest(rows: list[dict], pictures: dict[int, int]) -> go.Figure:
    """Recall per class (how often each class is found) at the largest size, per arm, mean over seeds."""
    largest = max(pictures, key=lambda s: pictures[s])
    figure = _base(f"How often each class is found, at {size_words(largest)}", "class", "recall (mean over seeds)")
    for index, arm in enumerate(_arms(rows)):
        recalls = [r["per_class_recall"] for r in rows if r["arm"] == arm and r["per_class"] == largest
                   and r["per_class_recall"]]
        if recalls:
            classes = list(recalls[0])
            figure.add_bar(x=classes, y=[statistics.mean(r.get(c, 0.0) for r in recalls) for c in classes],
                           name=arm, marker_color=COLOURS[index % len(COLOURS)])
    figure.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return figure


def figures(rows: list[dict], pictures: dict[int, int]) -> dict[str, go.Figure]:
    """The report's figures by file name; the pretraining one only when the grid has scratch."""
    found = {"accuracy_by_size": accuracy_by_size(rows, pictures)}
    if any(r.get("target_acc") is not None for r in rows):
        found["target_accuracy"] = accuracy_by_size(
            rows, pictures, "target_acc", "Accuracy where the model will be used (the target pictures)",
            "accuracy on the target pictures")
    gain = pretraining_gain(rows, pictures)
    if gain is not None:
        found["pretraining_gain"] = gain
    found["accuracy_by_time"] = accuracy_by_time(rows)
    found["per_class"] = per_class_at_largest(rows, pictures)
    return found


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def verdict(rows: list[dict], pictures: dict[int, int]) -> list[str]:
    """A few sentences generated from the numbers, for a class or a prototyper.

    Accuracies are of the validation pictures, or of the target pictures where the arms have them
    (where the model will be used, the point of such an experiment). Each arm is compared at the sizes
    where it has finished runs; "within a point" is one percentage point.
    """
    measure = "target_acc" if any(r.get("target_acc") is not None for r in rows) else "best_val_acc"
    table = summarise(rows, measure)
    arms = _arms(rows)
    sentences = [] if measure == "best_val_acc" else ["Measured where the model will be used (the target pictures):"]
    order = sorted(pictures, key=lambda s: pictures[s])
    means = {arm: {s: statistics.mean(v) for s, v in table[arm].items() if v} for arm in arms}
    scored = [arm for arm in arms if means[arm]]
    measured = [s for s in order if any(s in means[arm] for arm in scored)]
    if scored:
        largest = measured[-1]
        best = max((arm for arm in scored if largest in means[arm]), key=lambda arm: means[arm][largest])
        top = means[best][largest]
        reach = next(s for s in order if s in means[best] and means[best][s] >= top - CLOSE)
        level = means[best][reach]
        sentences.append(f"{best} reaches {pct(level)} with {size_words(reach)}"
                         + (f" ({pct(top)} with {size_words(largest)})." if reach != largest else "."))
        for arm in scored:
            if arm == best:
                continue
            got = next((s for s in order if means[arm].get(s, -1.0) >= level), None)
            best_size, at_most = max(means[arm].items(), key=lambda item: item[1])
            if got is not None:
                sentences.append(f"{arm} reaches it with {size_words(got)}.")
            elif at_most >= level - CLOSE:
                sentences.append(f"{arm} comes within 1 percentage point of it: {at_most * 100:.1f}% with "
                                 f"{size_words(best_size)}.")
            else:
                tried = max(means[arm], key=lambda s: pictures.get(s, s))
                sentences.append(f"{arm} does not reach it with {size_words(tried)} (at most {pct(at_most)}).")
    for arm in arms:
        if arm not in scored:
            sentences.append(f"{arm} has no finished run to compare.")
    gains = _gain_sentence(table, _strategy_of(rows), pictures)
    if gains:
        sentences.append(gains)
    fast = _time_sentence(rows, measure)
    if fast:
        sentences.append(fast)
    failed = [r for r in rows if r["state"] in ("failed", "refused")]
    if failed:
        sentences.append(f"{len(failed)} run{'s' * (len(failed) != 1)} did not finish; the table says why.")
    return sentences


def _gain_sentence(table, kinds: dict[str, tuple[str, str]], pictures) -> str | None:
    scratch = {kinds[arm][1]: table[arm] for arm in kinds if not _pretrained(kinds[arm][0])}
    gains = {}
    for size in sorted(pictures, key=lambda s: pictures[s]):
        best_pretrained = [statistics.mean(table[arm][size]) - statistics.mean(scratch[kinds[arm][1]][size])
                           for arm in kinds if _pretrained(kinds[arm][0]) and kinds[arm][1] in scratch
                           and table[arm].get(size) and scratch[kinds[arm][1]].get(size)]
        if best_pretrained:
            gains[size] = max(best_pretrained)
    if not gains:
        return None
    parts = [f"{gain * 100:+.0f} percentage points at {size_words(size)}" for size, gain in gains.items()]
    return "Pretraining bought " + ", ".join(parts) + " (the best pretrained choice minus scratch)."


def _time_sentence(rows: list[dict], measure: str) -> str | None:
    done = [r for r in rows if r["state"] == "succeeded" and r["seconds"] and r.get(measure) is not None]
    if len(done) < 2:
        return None
    best = max(r[measure] for r in done)
    quick = min((r for r in done if r[measure] >= best - CLOSE), key=lambda r: r["seconds"])
    slowest = max(done, key=lambda r: r["seconds"])
    if slowest["seconds"] < 1.5 * quick["seconds"]:
        return None
    return (f"The quickest run within 1 percentage point of the best was {quick['arm']} at "
            f"{size_words(quick['per_class'])}: {seconds(quick['seconds'])}, against {seconds(slowest['seconds'])} "
            "for the slowest run (pictures described once count in the first run that needed them).")


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def results_table(rows: list[dict], pictures: dict[int, int]) -> tuple[list[str], list[list[str]]]:
    """Mean (min–max) best validation accuracy per arm and size, for the page and the report."""
    table = summarise(rows)
    arms = _arms(rows)
    order = sorted(pictures, key=lambda s: pictures[s])
    header = ["way of training"] + [size_words(s) for s in order]
    body = []
    for arm in arms:
        cells = []
        for size in order:
            values = table[arm].get(size, [])
            cells.append(f"{statistics.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})" if len(values) > 1
                         else f"{values[0]:.3f}" if values else "—")
        body.append([arm, *cells])
    return header, body


def write_report(path: str | Path, *, title: str, facts: list[str], rows: list[dict], pictures: dict[int, int],
                 notes: list[str] = (), png: bool = True) -> dict:
    """The self-contained HTML report, and PNG copies of its figures in a folder beside it.

    Returns:
        {"html": path, "png": [paths], "png_problem": why none were drawn, or None}.
    """
    path = Path(path)
    drawn = figures(rows, pictures)
    header, body = results_table(rows, pictures)
    parts = [f"<h1>{html.escape(title)}</h1>", "<p class='facts'>" + " · ".join(map(html.escape, facts)) + "</p>",
             "<h2>What the numbers say</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in
                                                           verdict(rows, pictures)) + "</ul>"]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    parts.append("<h2>Best validation accuracy, mean (lowest–highest over seeds)</h2>" + _html_table(header, body))
    for index, figure in enumerate(drawn.values()):
        parts.append(figure.to_html(full_html=False, include_plotlyjs="inline" if index == 0 else False,
                                    default_width="100%", default_height="460px"))
    failed = [r for r in rows if r["state"] not in ("succeeded",)]
    if failed:
        parts.append("<h2>Runs that did not finish</h2>" + _html_table(
            ["way of training", "size", "seed", "state", "why"],
            [[r["arm"], size_words(r["per_class"]), str(r["seed"]), r["state"], r["error"] or ""] for r in failed]))
    parts.append(f"<p class='facts'>Written {time.strftime('%Y-%m-%d %H:%M')} by Transfer Learning Studio.</p>")
    partial = path.with_name(path.name + ".partial")  # two tabs writing at once never leave half a report
    partial.write_text(PAGE.format(title=html.escape(title), body="\n".join(parts)), encoding="utf-8")
    partial.replace(path)
    written, problem = [], None
    if png:
        folder = path.with_name(path.stem + "_figures")
        folder.mkdir(exist_ok=True)
        targets = [folder / f"{name}.png" for name in drawn]
        try:  # all at once: each separate write_image starts its own browser (3 s apiece)
            plotly.io.write_images(list(drawn.values()), targets, width=900, height=520, scale=2)
            written = [str(target) for target in targets]
        except Exception as error:  # noqa: BLE001 - no Chrome, a sandbox refusal: the HTML has every figure
            problem = (f"The PNG figures could not be drawn ({type(error).__name__}: {error}); they need Chrome or "
                       "Chromium on this computer. The HTML report has every figure.")
    return {"html": str(path), "png": written, "png_problem": problem}


def _html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #f4f4f4; }} .facts, .note {{ color: #555; }}
</style></head><body>
{body}
</body></html>
"""

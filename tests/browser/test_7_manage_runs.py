"""Step 7: runs a class can manage, on a projector (1024 px) and a laptop (1400 px): a runs table that
fits, a run renamed, noted, starred and deleted, and a comparison that names a winner or says there is none.

Besides the runs earlier steps trained, a few finished runs are written straight into the studio's
runs folder (as a worker leaves them, 200 validation pictures each), so the comparison's verdict is
known in advance.
"""
from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager

import pytest

from browser_support import PLOTLY, dataframe_rows, go_to, main, screenshot_on_failure, settle
from test_app_runs import finished_run, plain
from tlcore.runs import list_runs
from ui import format as fmt
from waiting import wait_for

from .steps import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

PROJECTOR, LAPTOP = 1024, 1400
RUNS_COLUMNS = ["run", "status", "network", "best", "time"]
STATES = ("◷ queued", "▶ running", "✓ succeeded", "✗ failed", "■ cancelled", "⚠ interrupted")


@pytest.fixture(scope="module")
def made_runs(server) -> dict:
    """Finished runs on a dataset called "leaves", oldest first: two alike and one clearly better."""
    now = time.time()
    return {
        "first": finished_run(server.runs_dir, "leaves", scores=((150, 200), (160, 200)), created_at=now - 40),
        "tuned": finished_run(server.runs_dir, "leaves", "fine_tune", "efficientnet_lite0",
                              scores=((170, 200), (190, 200)), created_at=now - 30),
        "second": finished_run(server.runs_dir, "leaves", scores=((165, 200),), created_at=now - 20),
        "spare": finished_run(server.runs_dir, "leaves", "scratch", scores=((50, 200),), created_at=now - 10),
    }


@contextmanager
def window(page, width: int):
    """The browser window at this width for a while (the package's tests share one tab)."""
    before = page.viewport_size
    page.set_viewport_size({"width": width, "height": 800})
    try:
        settle(page)
        yield
    finally:
        page.set_viewport_size(before)


def title_of(server, run_dir) -> str:
    """The line that names a run in the pickers, as the app words it."""
    return next(fmt.run_title(run) for run in list_runs(server.runs_dir) if run.run_dir == run_dir)


def runs_table(page):
    return main(page).get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="status")).first


def runs_table_rows(page, at_least: int) -> list[list[str]]:
    """The runs table's cells in view, header first, once it lists at least this many runs ([] until then)."""
    rows = dataframe_rows(runs_table(page))
    return rows if len(rows) > at_least else []


def grid_layout(table) -> dict | None:
    """How the data grid lays the table out: its overflow, each column's width, each cell's text width.

    The grid draws on a canvas, so a cut cell cannot be read back: the widths come from the grid's
    own column sizes (its React props) and the text is measured in the grid's own font.
    """
    try:
        return table.evaluate("""(el) => {
            const grid = el.querySelector('.stDataFrameGlideDataEditor');
            const canvas = el.querySelector('canvas[data-testid="data-grid-canvas"]');
            const scroller = el.querySelector('.dvn-scroller');
            if (!grid || !canvas || !scroller) return null;
            const fiberKey = Object.keys(canvas).find((key) => key.startsWith('__reactFiber$'));
            let fiber = fiberKey && canvas[fiberKey], columns = null;
            for (; fiber && !columns; fiber = fiber.return) {
                const props = fiber.memoizedProps;
                if (props && Array.isArray(props.columns) && props.columns.length && 'width' in props.columns[0])
                    columns = props.columns.map((c) => [c.title, c.width]);
            }
            const style = getComputedStyle(grid);
            const context = document.createElement('canvas').getContext('2d');
            context.font = style.getPropertyValue('--gdg-base-font-style').trim() + ' '
                + style.getPropertyValue('--gdg-font-family').trim();
            const rows = Array.from(el.querySelectorAll('table[role="grid"] tbody tr')).map(
                (tr) => Array.from(tr.querySelectorAll('td')).map(
                    (td) => [td.textContent.trim(), context.measureText(td.textContent.trim()).width]));
            return {overflow: scroller.scrollWidth - scroller.clientWidth, columns, rows,
                    padding: parseFloat(style.getPropertyValue('--gdg-cell-horizontal-padding'))};
        }""")
    except Exception:  # re-rendered while reading
        return None


def cut_cells(layout: dict, whole: list[str]) -> list[str]:
    """Cells of the columns named in `whole` whose text is wider than their column leaves room for."""
    widths = dict(layout["columns"])
    titles = [title for title, _ in layout["columns"]]
    return [f"{title}: '{text}' needs {measured + 2 * layout['padding']:.0f} px of {widths[title]}"
            for row in layout["rows"] for title, (text, measured) in zip(titles, row)
            if title in whole and measured + 2 * layout["padding"] > widths[title]]


def pick_run(page, title: str) -> None:
    """Show this run: type its line into the "Show run" picker, as a person searching it would."""
    picker = main(page).get_by_role("combobox", name="Show run")
    picker.click()
    picker.fill(title)
    page.get_by_role("option", name=title, exact=True).click()
    settle(page)


def compare(page, titles: list[str]) -> None:
    """Choose exactly these runs to compare."""
    chooser = main(page).get_by_test_id("stMultiSelect").filter(has_text="Runs to compare")
    # One tag at a time: Chromium 156.0.8078.114 ignores a click on the "Clear all" button.
    removers = chooser.get_by_role("button", name=re.compile("^Remove "))
    while removers.count():
        before = removers.count()
        removers.first.click()
        expect(removers).to_have_count(before - 1)
        settle(page)
    box = chooser.get_by_role("combobox")
    for title in titles:
        tag = chooser.get_by_role("button", name=f"Remove {title}", exact=True)
        for attempt in range(3):  # a pick made while the page reruns can be lost: pick again
            box.click()
            box.fill(title)
            page.get_by_role("option", name=title, exact=True).click()  # typing filters loosely: pick by name
            page.keyboard.press("Escape")  # while the list is open, the rest of the page is hidden from readers
            try:
                expect(tag).to_be_visible(timeout=10_000)
                break
            except AssertionError:
                settle(page)
                if tag.count():  # it was picked, only late
                    break
                if attempt == 2:
                    raise
        settle(page)


def compare_rows(page, runs: int) -> list[list[str]]:
    """The comparison table's cells, header first, once it shows this many runs ([] until then)."""
    table = main(page).get_by_test_id("stTable")
    try:
        rows = table.first.evaluate("""(el) => Array.from(el.querySelectorAll('tr')).map(
            (tr) => Array.from(tr.querySelectorAll('th, td')).map((cell) => cell.textContent.trim()))""") \
            if table.count() else []
    except Exception:  # re-rendered while reading
        return []
    return rows if len(rows) == runs + 1 else []


def verdict(page, words: str):
    """The comparison's verdict (a green box names a winner, a blue one says there is none)."""
    alerts = main(page).locator('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentInfo"]')
    return alerts.filter(has_text=words)


def open_manage(page):
    """The "Rename, add a note, star or delete this run" section, opened."""
    section = main(page).get_by_test_id("stExpander").filter(has_text="Rename, add a note, star or delete")
    if section.locator("details").get_attribute("open") is None:
        section.locator("summary").click()
    return section


@screenshot_on_failure
def test_the_runs_table_fits_a_projector_and_a_laptop(page, shots, server, made_runs):
    go_to(page, "Data")  # the runs written above appear when the Runs page is drawn again
    go_to(page, "Runs")
    for width in (PROJECTOR, LAPTOP):
        with window(page, width):
            table = runs_table(page)
            header, *cells = wait_for(lambda: runs_table_rows(page, len(made_runs)), timeout=10,
                                      message="the runs table with the runs written for this test")
            assert header == RUNS_COLUMNS
            names = [row[0] for row in cells]
            # Runs alike are told apart by a number; the one that is not alike needs none.
            for name in ("leaves · feature extraction", "leaves · feature extraction · #2", "leaves · fine-tuning"):
                assert name in names, names
            assert all(row[1].startswith(STATES) for row in cells), [row[1] for row in cells]
            layout = wait_for(lambda: grid_layout(table), timeout=10, message="the grid's layout")
            assert layout["columns"], "the grid's column widths could not be read"
            assert layout["overflow"] <= 0, f"the table scrolls sideways by {layout['overflow']} px at {width} px"
            assert not cut_cells(layout, RUNS_COLUMNS[1:]), cut_cells(layout, RUNS_COLUMNS[1:])
            shots.take(page, f"07-runs-table-{width}")


@screenshot_on_failure
def test_rename_note_star_and_delete_a_run(page, shots, server, made_runs):
    spare = made_runs["spare"]
    body = main(page)
    with window(page, PROJECTOR):
        go_to(page, "Runs")
        pick_run(page, title_of(server, spare))
        expect(body.get_by_role("heading", name="leaves · from scratch", exact=True)).to_be_visible()

        open_manage(page)
        body.get_by_role("textbox", name="Name", exact=True).fill("Leaves, from nothing")
        body.get_by_role("textbox", name="Note", exact=True).fill("A baseline for the class.")
        star = body.get_by_test_id("stCheckbox").filter(has_text="Star it").locator("label").filter(visible=True)
        expect(star).to_have_count(1)  # a rerun can leave the previous render's checkbox for a moment
        star.click()
        body.get_by_role("button", name="Save", exact=True).click()
        settle(page)
        expect(body.get_by_role("heading", name="★ Leaves, from nothing", exact=True)).to_be_visible()
        expect(body.get_by_test_id("stMarkdownContainer").filter(has_text="A baseline for the class.")).to_be_visible()
        assert json.loads((spare / "notes.json").read_text()) == {
            "name": "Leaves, from nothing", "note": "A baseline for the class.", "starred": True}
        wait_for(lambda: any(row[0] == "★ Leaves, from nothing" for row in dataframe_rows(runs_table(page))),
                 timeout=10, message="the new name in the runs table")
        expect(main(page).get_by_role("combobox", name="Show run")).to_have_value(
            re.compile(r"^★ Leaves, from nothing · "))  # the picker says the new name too
        shots.take(page, "07-renamed-1024")

        # Deleting asks first, then removes the folder, files and all.
        open_manage(page)
        body.get_by_role("button", name="Delete this run…").click()
        # (Its 25% on 2 classes also has it said to have learnt nothing, in a warning of its own.)
        expect(body.get_by_test_id("stAlertContentWarning").filter(has_text="for good?")).to_contain_text(
            "Delete Leaves, from nothing for good?")
        shots.take(page, "07-delete-asks-1024")
        body.get_by_role("button", name="Delete for good").click()
        expect(body.get_by_test_id("stAlertContentSuccess").filter(has_text="Deleted Leaves, from nothing.")
               ).to_be_visible()
        wait_for(lambda: not spare.exists(), timeout=10, message="the run folder to be gone")
        assert made_runs["first"].is_dir() and made_runs["tuned"].is_dir()
        names = [row[0] for row in wait_for(lambda: dataframe_rows(runs_table(page)), timeout=10)[1:]]
        assert "★ Leaves, from nothing" not in names and "leaves · fine-tuning" in names
        assert f"run={spare.name}" not in page.url


@screenshot_on_failure
def test_compare_names_a_winner_or_says_there_is_none(page, shots, server, made_runs):
    body = main(page)
    first, tuned, second = (title_of(server, made_runs[key]) for key in ("first", "tuned", "second"))
    with window(page, LAPTOP):
        go_to(page, "Runs")
        compare(page, [first, tuned])
        header, *rows = wait_for(lambda: compare_rows(page, 2), timeout=10, message="the comparison of two runs")
        assert header == ["run", "strategy", "network (backbone)", "pictures (train / validation)",
                          "accuracy: best round", "accuracy: last round", "time"]
        by_name = {row[0]: [plain(cell) for cell in row] for row in rows}
        assert by_name["leaves · fine-tuning (best)"][1:6] == [
            "fine-tuning", "EfficientNet-Lite0", "40 / 200", "95% (91–97%)", "95% (91–97%)"]
        assert by_name["leaves · feature extraction"][4:6] == ["80% (74–85%)", "80% (74–85%)"]
        expect(verdict(page, " is best: ")).to_have_text(
            "leaves · fine-tuning is best: 95% (91–97%) against 80% (74–85%) for leaves · feature extraction.")
        bars = body.locator(f".st-key-compare_bars {PLOTLY}")
        settle(page)  # while the page reruns, the chart being replaced can stand beside its successor
        expect(bars).to_have_count(1)
        expect(bars).to_contain_text("Accuracy with its 95% range")
        # The table can be redrawn a moment before the chart: wait for the chart's second bar.
        wait_for(lambda: bars.evaluate("(el) => el.querySelector('.js-plotly-plot').data.length") == 2,
                 timeout=10, message="a bar per compared run")
        shots.take(page, f"07-compare-winner-{LAPTOP}")

    with window(page, PROJECTOR):
        compare(page, [first, second])  # 80% and 82.5% of 200 pictures
        expect(verdict(page, "No clear difference")).to_have_text(
            "No clear difference: the intervals overlap; with 200 validation pictures, one picture is 0.5%.")
        expect(verdict(page, " is best: ")).to_have_count(0)
        fits = body.get_by_test_id("stTable").first.evaluate("(el) => el.scrollWidth <= el.clientWidth")
        assert fits, "the comparison table scrolls sideways at 1024 px"
        shots.take(page, f"07-compare-no-difference-{PROJECTOR}")

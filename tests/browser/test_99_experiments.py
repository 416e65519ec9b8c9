"""An experiment's results in the real app, and its report opened in Chromium with its plots drawn."""
import json
import os
import subprocess
import sys

import pytest

from browser_support import ROOT, context_page, main, screenshot_on_failure, settle
from imagegen import make_image_folder

from .steps import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def experiment(server, workspace):
    """A small experiment run through the CLI in the app's own home, with its report."""
    data = make_image_folder(workspace / "experiment-colours", {"reds": 8, "blues": 8, "greens": 8}, size=(40, 40))
    report = workspace / "experiment-report.html"
    env = dict(os.environ, TLSTUDIO_HOME=str(server.home), **server.extra_env)
    done = subprocess.run([sys.executable, "-m", "tlcore", "experiment", str(data), "--strategies",
                           "feature_extraction,scratch", "--per-class", "2,all", "--seeds", "2", "--image-size", "32",
                           "--epochs", "2", "--name", "Colours in the browser", "--report", str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stderr[-2000:]
    made = json.loads(done.stdout.splitlines()[0])
    return made["experiment_id"], report


@screenshot_on_failure
def test_the_report_opens_in_chromium_with_its_plots(browser, server, experiment, shots):
    _, report = experiment
    with context_page(browser, server.url) as tab:
        errors = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(report.as_uri())
        expect(tab.get_by_role("heading", name="Colours in the browser")).to_be_visible()
        expect(tab.locator(".js-plotly-plot")).to_have_count(4)  # by size, pretraining, time, per class
        expect(tab.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        assert tab.locator(".js-plotly-plot .scatterlayer .trace").count() >= 4  # the lines and points are drawn
        assert "Pretraining bought" in tab.locator("ul").first.inner_text()
        assert not errors, errors
        shots.take(tab, "experiment-report")


@screenshot_on_failure
def test_the_experiments_page_shows_the_results(page, experiment, shots):
    experiment_id, _ = experiment
    page.goto(f"/experiments?experiment={experiment_id}")
    expect(main(page).get_by_role("heading", name="Experiments", level=1)).to_be_visible(timeout=30_000)
    settle(page)
    expect(main(page).get_by_text("What the numbers say")).to_be_visible()
    expect(main(page).locator('[data-testid="stPlotlyChart"]')).to_have_count(4, timeout=30_000)
    expect(main(page).get_by_role("button", name="Download the report (HTML)")).to_be_visible()
    shots.take(page, "experiment-results")

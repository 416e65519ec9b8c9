"""The first five minutes: the built-in sample, trained with every setting left at its default."""
import time

import pytest

from browser_support import context_page, main, screenshot_on_failure
from ui.errors import UNEXPECTED

from .steps import FIRST_LOAD_MS, RUN_TIMEOUT_MS, expect, run_state, start_training, try_the_sample

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@screenshot_on_failure
def test_sample_dataset_trains_end_to_end_with_the_defaults(page, shots, server):
    started = time.monotonic()
    try_the_sample(page)
    expect(main(page).get_by_text("5 classes, 160 pictures to learn from and 40 to check on")).to_be_visible()
    run_id = start_training(page)
    expect(main(page).get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "best validation accuracy", timeout=RUN_TIMEOUT_MS)
    took = time.monotonic() - started
    assert run_state(server, run_id) == "succeeded"
    # The figure the README promises (under two minutes on a laptop CPU) is measured by
    # bench/first_run.py; here it is only reported.
    print(f"\nsample dataset, default settings, from one click to a trained model: {took:.1f} s")
    shots.take(page, "09-sample-trained")


def test_train_page_loads_the_plotting_library_before_the_first_chart(browser, server):
    """A new person's tab: the browser fetches Plotly's chunk while on the Train page, so the first run's
    curves do not wait for it after the run (ui/chart_preload.py)."""
    with context_page(browser, server.url) as fresh:
        plotly_chunks = []
        fresh.on("request", lambda request: plotly_chunks.append(request.url) if "/PlotlyChart." in request.url
                 else None)
        fresh.goto("/")
        expect(fresh.get_by_role("heading", name="Transfer Learning Studio", level=1)).to_be_visible(
            timeout=FIRST_LOAD_MS)
        assert plotly_chunks == [], "the home page draws no chart; it should not load the plotting library"
        try_the_sample(fresh)
        deadline = time.monotonic() + 20
        while not plotly_chunks and time.monotonic() < deadline:
            fresh.wait_for_timeout(200)
        assert plotly_chunks, "the Train page never asked for the plotting library"
        expect(main(fresh).locator(".st-key-chart_preload")).to_be_hidden()
        expect(fresh.get_by_test_id("stException")).to_have_count(0)
        expect(fresh.get_by_text(UNEXPECTED)).to_have_count(0)

"""Step 2: training in the background, watched live: a run that succeeds, one cancelled, a reload, a second browser."""
import re
import time

import pytest

from browser_support import (PROGRESS, context_page, dataframe_rows, main, progress_value, screenshot_on_failure,
                             settle)
from waiting import wait_for

from .steps import (CANCEL_WITHIN_S, CLASSES, RUN_TIMEOUT_MS, chart, choose_training, ensure_dataset, expect,
                    points, run_caption, run_state, sidebar_and_page_agree, start_training,
                    watch_until_trained)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


@screenshot_on_failure
def test_feature_extraction_run_trains_live(page, shots, server, image_folder, shared):
    ensure_dataset(page, image_folder)
    choose_training(page, "Reuse what it already sees (feature extraction)", epochs=10)
    body = main(page)
    expect(body.get_by_role("button", name="Start training")).to_be_enabled()
    # How long would it take? A few timed batches answer, for this network and for the others.
    body.get_by_role("button", name="Estimate the time on this device").click()
    expect(body.get_by_test_id("stAlertContentInfo").filter(has_text="images/s forward")).to_contain_text(
        re.compile(r"About \d+ s on CPU"), timeout=60_000)
    body.get_by_test_id("stExpander").filter(has_text="Compare the networks").locator("summary").click()
    networks = body.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="time for this run"))
    rows = wait_for(lambda: dataframe_rows(networks), timeout=10, message="the table of networks")
    times = {row[0]: row[4] for row in rows[1:]}
    assert re.fullmatch(r"\d+ s", times["MobileNetV2"]) and times["ResNet-18"] == "not measured yet", times
    settle(page)
    shots.take(page, "02-train-page")
    run_id = start_training(page)
    expect(body.get_by_role("heading", name="shapes · feature extraction")).to_be_visible()
    expect(run_caption(page, run_id)).to_contain_text("feature extraction · 10 rounds · 64 px")

    # Watch it: the progress bar shows each stage, the curves fill in, until it succeeds.
    seen_progress, live_shots = [], 0
    finished = body.get_by_test_id("stAlertContentSuccess")
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while not finished.count():
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {server.run_statuses().get(run_id)}"
        assert run_state(server, run_id) not in ("failed", "cancelled", "interrupted"), \
            server.run_statuses()[run_id]
        value = progress_value(page)
        texts = body.locator(PROGRESS).all_inner_texts() if value is not None else []
        if value is not None and texts and (value, texts[0]) not in seen_progress:
            seen_progress.append((value, texts[0]))
            # One picture as soon as it shows, one more once it is past starting up.
            if live_shots == 0 or (live_shots == 1 and not texts[0].startswith("Starting")):
                shots.take(page, "03-run-live", settled=False)
                live_shots += 1
        time.sleep(0.1)
    # This run is over in seconds (the fine-tuning tests watch the bar fill up epoch by epoch).
    assert seen_progress, "the live view never showed the progress bar"

    # Finished: the curves hold every epoch, the confusion matrix and per-class table show.
    expect(body.get_by_test_id("stAlertContentSuccess")).to_contain_text("best validation accuracy")
    assert run_state(server, run_id) == "succeeded"
    rounds = server.run_statuses()[run_id]["epochs_run"]  # 10, or fewer when it stopped early
    wait_for(lambda: points(page, "loss", run_id) >= 2 * rounds, timeout=10, message="the full loss curve")
    wait_for(lambda: points(page, "accuracy", run_id) >= 2 * rounds, timeout=10, message="the accuracy curve")
    confusion = chart(page, "confusion", run_id)
    expect(confusion).to_be_visible()
    expect(confusion).to_contain_text("Confusion matrix")
    per_class = body.get_by_test_id("stColumn").filter(has_text="Per class").get_by_test_id("stDataFrame")
    rows = wait_for(lambda: dataframe_rows(per_class), timeout=10, message="the per-class table")
    header, *classes = rows
    assert header[:4] == ["class", "found", "right", "F1"]
    assert sorted(row[0] for row in classes) == sorted(CLASSES)
    # The runs table lists it as succeeded.
    runs_table = body.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="status")).first
    table_rows = wait_for(lambda: dataframe_rows(runs_table), timeout=10, message="the runs table")
    assert ["shapes · feature extraction", "✓ succeeded"] in [row[:2] for row in table_rows[1:]], table_rows
    shots.take(page, "04-run-finished")
    shared["finished_run"] = run_id


@screenshot_on_failure
def test_fine_tune_run_can_be_cancelled(page, shots, server, image_folder):
    ensure_dataset(page, image_folder)
    choose_training(page, "Adjust the whole network (fine-tuning)", epochs=100,
                    epochs_label="Rounds of training after the warm-up (epochs)", early_stop=0)
    run_id = start_training(page)
    fills = watch_until_trained(page, server, run_id)
    assert fills == sorted(fills), f"the progress bar went backwards: {fills}"
    agreed = sidebar_and_page_agree(page)
    assert ", round " in agreed, agreed
    cancel = main(page).get_by_role("button", name="Cancel this run")
    asked = time.monotonic()
    cancel.click()
    expect(main(page).get_by_text(re.compile(r"^Cancelled after "))).to_be_visible(
        timeout=CANCEL_WITHIN_S * 1000)
    took = time.monotonic() - asked
    assert run_state(server, run_id) == "cancelled"
    assert took < CANCEL_WITHIN_S
    expect(main(page).get_by_role("button", name="Cancel this run")).to_have_count(0)
    shots.take(page, "05-cancelled")


@screenshot_on_failure
def test_reload_during_run_brings_the_live_view_back(page, shots, server, image_folder, browser):
    ensure_dataset(page, image_folder)
    choose_training(page, "Adjust the whole network (fine-tuning)", epochs=100,
                    epochs_label="Rounds of training after the warm-up (epochs)", early_stop=0)
    run_id = start_training(page)
    watch_until_trained(page, server, run_id, min_epochs=2)
    before = wait_for(lambda: points(page, "loss", run_id), timeout=10, message="the loss curve before reload")

    page.reload()  # a new browser session: only the URL and the run folder remember anything
    body = main(page)
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=60_000)
    expect(run_caption(page, run_id)).to_contain_text("fine-tuning · warm-up 5 + 100 rounds")
    expect(body.locator(PROGRESS)).to_be_visible()
    expect(body.get_by_role("button", name="Cancel this run")).to_be_visible()
    # The curves so far come back at once (read from the run folder), and keep growing.
    wait_for(lambda: points(page, "loss", run_id) >= before, timeout=15, message="the loss curve after reload")
    wait_for(lambda: points(page, "accuracy", run_id) >= 4, timeout=15, message="the accuracy curve after reload")
    expect(chart(page, "confusion", run_id)).to_be_visible()
    assert run_state(server, run_id) == "running"
    after = points(page, "loss", run_id)
    wait_for(lambda: points(page, "loss", run_id) > after, timeout=30, message="the curve to keep growing")
    shots.take(page, "08-reload")

    # A second browser (a teacher's projector, a student's laptop) opens the run by its link, sees it
    # live, and cancels it; the first browser sees the run end.
    with context_page(browser, server.url) as second:
        second.goto(f"/runs?run={run_id}")
        expect(second.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=60_000)
        expect(run_caption(second, run_id)).to_contain_text("fine-tuning · warm-up 5 + 100 rounds")
        # A new browser loads the page and its charts cold, beside a run training on both cores.
        wait_for(lambda: points(second, "loss", run_id) >= after, timeout=60,
                 message="the curves so far in the second browser")
        main(second).get_by_role("button", name="Cancel this run").click()
        expect(main(second).get_by_text(re.compile(r"^Cancelled after "))).to_be_visible(
            timeout=CANCEL_WITHIN_S * 1000)
    # The live view's last rerun can show the old message beside the new one for a moment: then one.
    cancelled = body.get_by_text(re.compile(r"^Cancelled after "))
    expect(cancelled.first).to_be_visible(timeout=CANCEL_WITHIN_S * 1000)
    expect(cancelled).to_have_count(1, timeout=CANCEL_WITHIN_S * 1000)

"""Step 1: a folder of images, uploaded through the folder uploader, gets its pre-flight report."""
import pytest

from browser_support import dataframe_rows, main, screenshot_on_failure
from waiting import wait_for

from .steps import CLASSES, expect, upload_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


@screenshot_on_failure
def test_folder_upload_shows_preflight_report(page, shots, image_folder):
    upload_dataset(page, image_folder)
    body = main(page)
    metric = lambda label: body.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")
    expect(metric("Classes")).to_have_text("3")
    expect(metric("Pictures to learn from")).to_have_text("18")  # 80 % of each class of 8, rounded
    expect(metric("Pictures to check on")).to_have_text("6")
    expect(metric("Files skipped")).to_have_text("0")
    # The split table: one row per class with its images for training, for validation, and in all.
    table = body.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="total"))
    rows = wait_for(lambda: dataframe_rows(table), timeout=10, message="the split table")
    header, *classes = rows
    totals = {row[header.index("class")]: int(row[header.index("total")]) for row in classes}
    assert totals == CLASSES
    # Every class also gets a row of sample pictures.
    for name in CLASSES:
        expect(body.get_by_text(name, exact=True).first).to_be_visible()
    expect(body.get_by_test_id("stImage")).not_to_have_count(0)
    shots.take(page, "01-data-report")

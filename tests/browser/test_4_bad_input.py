"""Bad input: a zip with entries that climb out of the folder and a corrupt image is refused safely."""
import re

import pytest

from browser_support import dataframe_rows, go_to, main, screenshot_on_failure, upload_files
from imagegen import image_bytes, make_image, write_truncated_jpeg, write_zip_entries
from waiting import wait_for

from .steps import CLASSES, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


@screenshot_on_failure
def test_bad_zip_is_refused_safely(page, shots, server, workspace):
    """A zip with entries that climb out of the folder and a corrupt picture: told, not written."""
    images = {f"shapes/{name}/{name}_{i}.png": image_bytes(make_image(index, 100 + i, (48, 40)))
              for index, name in enumerate(sorted(CLASSES)) for i in range(5)}
    broken = write_truncated_jpeg(workspace / "broken.jpg")
    hostile = {"../evil.txt": b"written outside the data folder",
               "../../escape.png": image_bytes(make_image(0, 1)),
               "shapes/circles/broken.jpg": broken.read_bytes()}
    mixed = write_zip_entries(workspace / "mixed.zip", {**images, **hostile})
    only_bad = write_zip_entries(workspace / "only-bad.zip", hostile)

    go_to(page, "Data")
    body = main(page)
    page.get_by_role("tab", name="Zip", exact=True).click()

    # Good pictures beside the bad entries: the dataset is usable; the bad entries are listed, with why.
    upload_files(page, "Zip file", str(mixed))
    expect(body.get_by_role("heading", name="Check before training: mixed.zip")).to_be_visible(timeout=60_000)
    metric = body.get_by_test_id("stMetric").filter(has_text="Files skipped").get_by_test_id("stMetricValue")
    expect(metric).to_have_text("3")
    expect(body.get_by_test_id("stExpander").filter(has_text="3 file(s) skipped, and why")).to_be_visible()
    skipped_table = body.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="reason"))
    rows = wait_for(lambda: dataframe_rows(skipped_table), timeout=10, message="the skipped-files table")
    reasons = {row[0]: row[1] for row in rows[1:]}
    assert "outside" in reasons.get("../evil.txt", ""), reasons
    assert "outside" in reasons.get("../../escape.png", ""), reasons
    assert any(name.endswith("broken.jpg") for name in reasons), reasons
    shots.take(page, "06-bad-zip")

    # Nothing but bad entries: a clear refusal instead of a report.
    upload_files(page, "Zip file", str(only_bad))
    error = body.get_by_test_id("stAlertContentError")
    expect(error).to_be_visible(timeout=60_000)
    expect(error).to_contain_text("only-bad.zip")  # the message names what the person uploaded
    refused = body.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="reason"))
    rows = wait_for(lambda: dataframe_rows(refused), timeout=10, message="the refused zip's skipped files")
    assert {"../evil.txt", "../../escape.png"} <= {row[0] for row in rows[1:]}, rows
    expect(body.get_by_role("heading", name=re.compile("^Check before training"))).to_have_count(0)
    expect(body.get_by_test_id("stException")).to_have_count(0)
    shots.take(page, "06-bad-zip-refused")

    # Nothing was written where the entries pointed (data/, the studio home, above it), nor anywhere else.
    assert server.data_dir.is_relative_to(workspace)
    escaped = [path for path in [*workspace.rglob("*"), *workspace.parent.iterdir()]
               if path.name in ("evil.txt", "escape.png")]
    assert not escaped, escaped

    # The app is still usable: another page renders, with the runs made before.
    go_to(page, "Runs")
    expect(body.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(body.get_by_test_id("stException")).to_have_count(0)

"""Looking inside a model, in the browser: a picture filed under the wrong class is found by "Check the
labels" and relabelled (its file untouched), the next run trains with the correction, a click on its
confusion matrix's cell shows that cell's pictures, and Grad-CAM shows what the network looked at.
"""
import json
import re
import time

import pytest

from browser_support import PLOTLY, go_to, main, screenshot_on_failure, settle
from imagegen import make_image, make_image_folder, save_image

from .steps import choose_training, expect, start_training, upload_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

CLASSES = {"blue": 12, "green": 12, "red": 12}  # shapes and colours a pretrained network tells apart
SIZE = (48, 40)


@pytest.fixture(scope="module")
def mixed_up(workspace):
    """Three classes and one red picture filed under green (the names sort as make_image's classes)."""
    folder = make_image_folder(workspace / "images" / "mixed-up", CLASSES, size=SIZE, seed=16)
    stray = save_image(make_image(sorted(CLASSES).index("red"), 999, SIZE), folder / "green" / "stray-red.png")
    return folder, stray, stray.read_bytes()


def suspect_row(page, given: str, suggested: str):
    """The row of "Check the labels" for a picture labelled `given` that looks like `suggested`."""
    return main(page).get_by_test_id("stHorizontalBlock").filter(
        has_text=f"labelled {given}, looks like {suggested}").first


def click_cell(page, run_id: str, index: int) -> None:
    """Click the confusion matrix's index-th cell, where the chart's clickable square for it is drawn."""
    confusion = main(page).locator(f".st-key-confusion_{run_id} {PLOTLY}")
    expect(confusion).to_be_visible()
    confusion.scroll_into_view_if_needed()  # the mouse clicks where the page shows it
    box = confusion.evaluate("""(el, index) => {
        const point = el.querySelectorAll('.scatterlayer path.point')[index];
        const r = point.getBoundingClientRect();
        return {x: r.x + r.width / 2, y: r.y + r.height / 2};
    }""", index)
    page.mouse.click(box["x"], box["y"])


@screenshot_on_failure
def test_relabel_train_click_a_cell_and_see_what_the_network_looked_at(page, shots, server, mixed_up):
    folder, stray, stray_bytes = mixed_up
    upload_dataset(page, folder)
    body = main(page)

    # Labels that look wrong: the stray picture comes up, and is relabelled.
    body.get_by_role("button", name="Check the labels").click()
    expect(body.get_by_text("look mislabelled")).to_be_visible(timeout=120_000)
    row = suspect_row(page, "green", "red")
    expect(row).to_be_visible()
    shots.take(page, "16-label-check")
    row.get_by_role("button", name="Relabel as red").click()
    expect(body.get_by_text("Your corrections: 1 picture(s) relabelled, 0 left out.")).to_be_visible(timeout=30_000)
    assert stray.read_bytes() == stray_bytes and (folder / "green" / stray.name).is_file()  # the original untouched

    # The next run trains with the correction.
    go_to(page, "Train")
    choose_training(page, "Reuse what it already sees (feature extraction)", epochs=3)
    run_id = start_training(page)
    expect(body.get_by_text("Finished in")).to_be_visible(timeout=240_000)
    expect(body.get_by_text("Trained with your label corrections: 1 picture relabelled")).to_be_visible()
    run_dir = server.runs_dir / run_id
    manifest = json.loads((run_dir / "manifest.json").read_text())
    labels = {sample["path"].rsplit("/", 2)[-1]: manifest["classes"][sample["label"]]
              for sample in manifest["samples"]}
    assert labels["stray-red.png"] == "red"

    # A click on a cell of the confusion matrix shows its pictures.
    predictions = json.loads((run_dir / "predictions.json").read_text())
    first_class = predictions["classes"][0]
    settle(page)
    chooser = body.get_by_role("combobox", name="Show the pictures")
    for _ in range(3):  # a click that lands while the page reruns can be lost (Chromium 156): click again
        click_cell(page, run_id, 0)  # the first cell drawn: the first class's row
        try:
            expect(chooser).to_have_value(re.compile(f"^{first_class}, "), timeout=10_000)
            break
        except AssertionError:
            settle(page)
    expect(chooser).to_have_value(re.compile(f"^{first_class}, "))
    expect(body.get_by_test_id("stImage").filter(has_text="sure").first).to_be_visible()
    shots.take(page, "16-cell-pictures")
    chooser.click()  # another choice in the list holds: the earlier click on the chart does not take it back
    chooser.fill(f"Every picture of {first_class}")
    page.get_by_role("option", name=re.compile(f"^Every picture of {first_class}")).click()
    settle(page)
    expect(chooser).to_have_value(re.compile(f"^Every picture of {first_class}"))

    # Grad-CAM: the picture beside where the network found its class.
    body.get_by_text("Show what the network looked at in one of these (Grad-CAM)").click()
    overlay = body.get_by_test_id("stImage").filter(has_text="where it found")
    expect(overlay).to_be_visible(timeout=60_000)
    expect(body.get_by_test_id("stImage").filter(has_text="what the network saw")).to_be_visible()
    # Visible comes before loaded: wait for the picture's pixels (a broken image never gets them),
    # finding the image again each time in case a rerun has replaced it.
    loaded = "(img) => img.complete && img.naturalWidth > 0"
    deadline = time.monotonic() + 15
    while not overlay.locator("img").evaluate(loaded) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert overlay.locator("img").evaluate(loaded), "the Grad-CAM picture never loaded"
    shots.take(page, "16-grad-cam")

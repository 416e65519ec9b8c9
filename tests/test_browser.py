"""The whole product in a real browser, used the way a person uses it.

The real app (``streamlit run app.py``) runs once for this file, on a free port with its own
temporary studio home; headless Chromium (Debian's) drives it through Playwright. The tests run in
file order and share the app, the browser session and what earlier tests made (the dataset, the
finished run). Each step saves a screenshot; ``TLSTUDIO_SCREENSHOTS=docs/screenshots ./studio test
-m browser`` regenerates the README's pictures. A failing test also saves ``FAILED-<test>.png``.

Without Chromium the tests are skipped, unless TLSTUDIO_REQUIRE_BROWSER=1 makes that a failure.
"""
from __future__ import annotations

import json
import re
import time
import warnings
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import (CHROMIUM_ARGS, PLOTLY, PROGRESS, Screenshots, StudioServer, chromium_executable,
                             context_page, dataframe_rows, go_to, main, plotly_trace_points, progress_value,
                             require_playwright, screenshot_folder, screenshot_on_failure, set_slider, settle,
                             upload_files, wait_for)
from imagegen import image_bytes, make_image, make_image_folder, save_image, write_truncated_jpeg, write_zip_entries

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or fail, with TLSTUDIO_REQUIRE_BROWSER=1) before any test runs
    expect = None
else:
    expect.set_options(timeout=30_000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# imagegen draws the classes, in name order, as ellipses, rectangles and triangles: names to match.
CLASSES = {"circles": 8, "squares": 8, "triangles": 8}
IMAGE_SIZE = 64  # small, so that runs take seconds on a laptop CPU
RUN_TIMEOUT_MS = 120_000
CANCEL_WITHIN_S = 15.0
FIRST_LOAD_MS = 90_000  # the first page imports torch and checks the weights


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Everything this file writes: the studio home, generated images, downloads."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def server(workspace, request):
    """The real app on a free port, with its own runs and data folder; stopped after the module."""
    chromium_executable()  # skip (or fail) before starting anything
    require_playwright()
    from tlcore.weights import weights_status

    extra_env = {}
    if weights_status("mobilenet_v2").source != "cached":  # fetch the offline weights once
        extra_env["TORCH_HOME"] = str(request.getfixturevalue("offline_torch_home"))
    with StudioServer(workspace / "home", extra_env) as studio:
        yield studio


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    sync_playwright = require_playwright()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One browser context and tab for the module: one Streamlit session, as one person has."""
    with context_page(browser, server.url) as tab:
        tab.goto("/")
        expect(tab.get_by_role("heading", name="Transfer Learning Studio", level=1)).to_be_visible(
            timeout=FIRST_LOAD_MS)
        yield tab


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots(screenshot_folder(tmp_path_factory))


@pytest.fixture(scope="module")
def shared() -> dict:
    """What one test leaves for the next (the finished run's id)."""
    return {}


@pytest.fixture(scope="module")
def image_folder(workspace) -> Path:
    return make_image_folder(workspace / "images" / "shapes", CLASSES, size=(48, 40))


# -- steps a person takes ---------------------------------------------------------------------------

def upload_dataset(page, folder: Path) -> None:
    """On the Data page: give the folder to the folder uploader and wait for the report."""
    go_to(page, "Data")
    page.get_by_role("tab", name="Upload a folder").click()
    upload_files(page, "Folder of images", str(folder))
    expect(main(page).get_by_role("heading", name=f"Check before training: {folder.name}")).to_be_visible(
        timeout=60_000)
    settle(page)


def ensure_dataset(page, folder: Path) -> None:
    """Open Train; upload the folder first when this session has no dataset (after a reload, say)."""
    go_to(page, "Train")
    if main(page).get_by_text("First choose the images to train on.").count():
        upload_dataset(page, folder)
        go_to(page, "Train")
    expect(main(page).get_by_text(f"Training on {folder.name}")).to_be_visible()


def choose_training(page, strategy: str, epochs: int, epochs_label: str = "Epochs") -> None:
    """On the Train page: MobileNetV2, the strategy, epochs and the small image size."""
    backbone = main(page).get_by_role("combobox", name="Pretrained network (backbone)")
    expect(backbone).to_have_value(re.compile(r"^MobileNetV2 "))  # the default
    main(page).get_by_test_id("stRadio").get_by_text(strategy, exact=True).click()
    settle(page)
    set_slider(page, epochs_label, epochs)
    set_slider(page, "Image size (pixels)", IMAGE_SIZE)
    settle(page)


def start_training(page) -> str:
    """Press Start; the app moves to the run's live view. Returns the run id from the URL."""
    main(page).get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=30_000)
    expect(page).to_have_url(re.compile(r"[?&]run="))
    return parse_qs(urlparse(page.url).query)["run"][0]


def run_caption(page, run_id: str):
    """The live view's line of settings under its title, which ends with the run id."""
    return main(page).get_by_test_id("stCaptionContainer").filter(has_text=run_id).first


def chart(page, kind: str, run_id: str):
    """The run view's plotly chart with this key prefix (loss, accuracy, confusion)."""
    return main(page).locator(f".st-key-{kind}_{run_id} {PLOTLY}")


def points(page, kind: str, run_id: str) -> int:
    locator = chart(page, kind, run_id)
    try:
        return plotly_trace_points(locator.first) if locator.count() else 0
    except Exception:  # re-rendered between count() and evaluate(): no reading this time
        return 0


def run_state(server, run_id: str) -> str | None:
    return server.run_statuses().get(run_id, {}).get("state")


def watch_until_trained(page, server, run_id: str, min_epochs: int = 1) -> list[float]:
    """Until the live view shows min_epochs epochs (accuracy curve) and the progress bar has grown
    from one training epoch to the next.

    Returns the fills the progress bar showed while training ("Epoch n of m ..."), in order.
    """
    fills = []

    def trained() -> bool:
        assert run_state(server, run_id) in ("queued", "running"), \
            f"run {run_id} ended early: {server.run_statuses().get(run_id)}"
        fill = progress_value(page)
        captions = main(page).locator(PROGRESS).all_inner_texts() if fill is not None else []
        if captions and captions[0].startswith("Epoch ") and (not fills or fills[-1] != fill):
            fills.append(fill)
        grown = len(fills) >= 2 and fills[-1] > fills[0]
        return grown and points(page, "accuracy", run_id) >= 2 * min_epochs  # train + validation per epoch
    wait_for(trained, timeout=90, interval=0.2,
             message=f"{min_epochs} epoch(s) of run {run_id} and a growing progress bar (fills seen: {fills})")
    return fills


# -- the tests, in the order a person goes -----------------------------------------------------------

@screenshot_on_failure
def test_folder_upload_shows_preflight_report(page, shots, image_folder):
    upload_dataset(page, image_folder)
    body = main(page)
    metric = lambda label: body.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")
    expect(metric("Classes")).to_have_text("3")
    expect(metric("Training images")).to_have_text("18")  # 80 % of each class of 8, rounded
    expect(metric("Validation images")).to_have_text("6")
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


@screenshot_on_failure
def test_feature_extraction_run_trains_live(page, shots, server, image_folder, shared):
    ensure_dataset(page, image_folder)
    choose_training(page, "Feature extraction", epochs=10)
    expect(main(page).get_by_role("button", name="Start training")).to_be_enabled()
    shots.take(page, "02-train-page")
    run_id = start_training(page)
    body = main(page)
    expect(run_caption(page, run_id)).to_contain_text("mobilenet_v2 · feature extraction · 10 epochs · 64 px")

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
    wait_for(lambda: points(page, "loss", run_id) >= 2 * 10, timeout=10, message="the full loss curve")
    wait_for(lambda: points(page, "accuracy", run_id) >= 2 * 10, timeout=10, message="the accuracy curve")
    confusion = chart(page, "confusion", run_id)
    expect(confusion).to_be_visible()
    expect(confusion).to_contain_text("Confusion matrix")
    per_class = body.get_by_test_id("stColumn").filter(has_text="Per class").get_by_test_id("stDataFrame")
    rows = wait_for(lambda: dataframe_rows(per_class), timeout=10, message="the per-class table")
    header, *classes = rows
    assert header[:4] == ["class", "precision", "recall", "F1"]
    assert sorted(row[0] for row in classes) == sorted(CLASSES)
    # The runs table lists it as succeeded.
    runs_table = body.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="status")).first
    table_rows = wait_for(lambda: dataframe_rows(runs_table), timeout=10, message="the runs table")
    assert any(run_id in row and any("succeeded" in cell for cell in row) for row in table_rows[1:]), table_rows
    shots.take(page, "04-run-finished")
    shared["finished_run"] = run_id


@screenshot_on_failure
def test_fine_tune_run_can_be_cancelled(page, shots, server, image_folder):
    ensure_dataset(page, image_folder)
    choose_training(page, "Fine-tuning", epochs=100, epochs_label="Epochs after the warm-up")
    run_id = start_training(page)
    fills = watch_until_trained(page, server, run_id)
    assert fills == sorted(fills), f"the progress bar went backwards: {fills}"
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
def test_reload_during_run_brings_the_live_view_back(page, shots, server, image_folder):
    ensure_dataset(page, image_folder)
    choose_training(page, "Fine-tuning", epochs=100, epochs_label="Epochs after the warm-up")
    run_id = start_training(page)
    watch_until_trained(page, server, run_id, min_epochs=2)
    before = points(page, "loss", run_id)
    assert before > 0

    page.reload()  # a new browser session: only the URL and the run folder remember anything
    body = main(page)
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=60_000)
    expect(run_caption(page, run_id)).to_contain_text("fine tune · 100 epochs")
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

    body.get_by_role("button", name="Cancel this run").click()
    expect(body.get_by_text(re.compile(r"^Cancelled after "))).to_be_visible(timeout=CANCEL_WITHIN_S * 1000)


@screenshot_on_failure
def test_predict_and_export_agree(page, shots, server, workspace, shared):
    run_id = shared.get("finished_run")
    if run_id is None:
        pytest.skip("needs the finished run of test_feature_extraction_run_trains_live")
    go_to(page, "Predict & export")
    body = main(page)
    picker = body.get_by_role("combobox", name="Model of run")
    expect(picker).to_have_value(re.compile("feature extraction"))
    expect(body.get_by_text("It knows 3 classes: circles, squares, triangles.")).to_be_visible()

    # A picture the model has never seen: a new circle.
    picture = save_image(make_image(sorted(CLASSES).index("circles"), seed=4242, size=(56, 44)),
                         workspace / "new-circle.png")
    upload_files(page, "Images", str(picture))
    answer = body.get_by_test_id("stMarkdownContainer").filter(
        has=page.locator("strong", has_text=re.compile("^(circles|squares|triangles)$"))).filter(
        has_text=re.compile(r" · \d+(\.\d)?%$"))
    expect(answer).to_have_count(1, timeout=30_000)
    shown_label = answer.locator("strong").inner_text().strip()
    shown_percent = float(re.search(r"([\d.]+)%", answer.inner_text()).group(1))
    assert shown_label == "circles", f"the model called a clear circle '{shown_label}'"

    # Download the model and check it says the same.
    body.get_by_role("button", name="Prepare the download").click()
    download_button = body.get_by_role("button", name=re.compile(rf"Download {re.escape(run_id)}\.zip"))
    expect(download_button).to_be_visible(timeout=120_000)
    shots.take(page, "07-predict")
    with page.expect_download(timeout=60_000) as download_info:
        download_button.click()
    download = download_info.value
    assert download.suggested_filename == f"{run_id}.zip"
    zip_path = workspace / "download" / download.suggested_filename
    download.save_as(zip_path)

    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        assert {"model.torchscript.pt", "labels.json", "preprocessing.json"} <= names, names
        archive.extractall(zip_path.parent / "unzipped")
    unzipped = zip_path.parent / "unzipped"
    labels = json.loads((unzipped / "labels.json").read_text())
    preprocessing = json.loads((unzipped / "preprocessing.json").read_text())
    assert preprocessing["image_size"] == IMAGE_SIZE

    import numpy as np
    import torch

    from tlcore.imagecache import load_rgb, resize_center_crop

    pixels = resize_center_crop(load_rgb(picture), preprocessing["image_size"])
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, and still what we ship
        model = torch.jit.load(str(unzipped / "model.torchscript.pt"), map_location="cpu").eval()
    with torch.no_grad():
        probabilities = model(x).softmax(1)[0]
    best = int(probabilities.argmax())
    assert labels[best] == shown_label
    assert abs(float(probabilities[best]) * 100 - shown_percent) < 0.11  # the page rounds to 0.1 %


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
    page.get_by_role("tab", name="Upload a .zip").click()

    # Good pictures beside the bad entries: the dataset is usable; the bad entries are listed, with why.
    upload_files(page, "Zip file", str(mixed))
    expect(body.get_by_role("heading", name="Check before training: mixed")).to_be_visible(timeout=60_000)
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

"""Step 3: the finished run predicts a new image, and its downloaded export says the same."""
import json
import re
import warnings
import zipfile

import pytest

from browser_support import main, screenshot_on_failure, upload_files
from imagegen import make_image, save_image

from .steps import CLASSES, IMAGE_SIZE, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


@screenshot_on_failure
def test_predict_and_export_agree(page, shots, server, workspace, shared):
    run_id = shared.get("finished_run")
    if run_id is None:
        pytest.skip("needs the finished run of test_feature_extraction_run_trains_live")
    # By its link: a run cancelled after some rounds (test_2) has a model to try too, and may be the one shown.
    page.goto(f"/predict?run={run_id}")
    body = main(page)
    expect(page.get_by_role("heading", name="Predict & export", level=1)).to_be_visible(timeout=60_000)
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
    # Each step is shown as it happens, with its name: the ONNX step alone takes seconds.
    expect(body.get_by_test_id("stProgress")).to_contain_text(re.compile(r"Step [1-5] of 5: "))
    download_button = body.get_by_role("button", name=re.compile(r"Download .* - feature extraction.*\.zip"))
    expect(download_button).to_be_visible(timeout=120_000)
    shots.take(page, "07-predict")
    with page.expect_download(timeout=60_000) as download_info:
        download_button.click()
    download = download_info.value
    # Named after the run as the person knows it ("shapes - feature extraction"), not after its folder.
    assert download.suggested_filename.endswith(".zip") and run_id not in download.suggested_filename
    zip_path = workspace / "download" / download.suggested_filename
    download.save_as(zip_path)
    shared["export_zip"] = zip_path  # opened in Chromium by test_6_export_web

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

    from tlcore.data.picture_file import load_rgb, resize_center_crop

    pixels = resize_center_crop(load_rgb(picture), preprocessing["image_size"])
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, and still what we ship
        model = torch.jit.load(str(unzipped / "model.torchscript.pt"), map_location="cpu").eval()
    with torch.no_grad():
        logits, familiar = model(x)  # the scaled logits, and how familiar the picture looks
    probabilities = logits.softmax(1)[0]
    best = int(probabilities.argmax())
    assert labels[best] == shown_label
    assert abs(float(probabilities[best]) * 100 - shown_percent) < 0.11  # the page rounds to 0.1 %
    threshold = json.loads((unzipped / "answers.json").read_text())["familiar_threshold"]
    assert float(familiar[0]) >= threshold  # a clear circle is no "none of these"

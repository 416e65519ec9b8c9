"""Step 6: the web page in the downloaded zip, opened from disk (file://, no server, no internet) in
Chromium, names what its camera films and a chosen picture as ``python -m tlcore predict`` does.

The camera is Chromium's fake one, filming a Y4M video made from one of the dataset's pictures; it
needs launch flags, so this test starts a second Chromium beside the shared one.
"""
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_support import CHROMIUM_ARGS, REQUIRE_BROWSER_ENV, ROOT, VIEWPORT, chromium_executable

from .steps import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
CAMERA_SCALE = 5  # the dataset's 48x40 pictures, filmed at 240x200


def write_y4m(picture: Path, target: Path, scale: int = CAMERA_SCALE, frames: int = 3) -> Path:
    """A still video of the picture for Chromium's fake camera: YUV 4:2:0, BT.601 limited range."""
    image = Image.open(picture).convert("RGB")
    width, height = image.size[0] * scale // 2 * 2, image.size[1] * scale // 2 * 2
    rgb = np.asarray(image.resize((width, height), Image.Resampling.NEAREST), dtype=np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b

    def quarter(plane):  # 2x2 averages: the chroma planes are half as wide and half as high
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    planes = b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in (y, quarter(u), quarter(v)))
    with open(target, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + planes)
    return target


@pytest.fixture(scope="module")
def web_export(shared, workspace) -> Path:
    """The downloaded zip of test_3, extracted; fails (in CI) or skips when it has no web page."""
    zip_path = shared.get("export_zip")
    if zip_path is None:
        pytest.skip("needs the zip downloaded by test_predict_and_export_agree")
    folder = workspace / "web-export"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    if not (folder / "web" / "index.html").is_file():
        said = re.search(r"The web page is missing from this export:\*\* (.*)", (folder / "README.md").read_text())
        message = f"the export has no web page: {said.group(1) if said else 'its README does not say why'}"
        if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="module")
def cli_answers(shared, server, image_folder) -> dict[Path, list[dict]]:
    """What the command line says about every picture of the dataset, from the same zip."""
    pictures = sorted(image_folder.rglob("*.png"))
    done = subprocess.run([sys.executable, "-m", "tlcore", "predict", str(shared["export_zip"]), *map(str, pictures)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=dict(os.environ, TLSTUDIO_HOME=str(server.home)))
    assert done.returncode == 0, done.stderr
    return {Path(line["image"]): line["top"] for line in map(json.loads, done.stdout.splitlines())}


@pytest.fixture(scope="module")
def picture(cli_answers) -> Path:
    """The picture the model is surest about: a small model trained for seconds is unsure of many,
    and where two classes are close, any resize decides between them."""
    return max(cli_answers, key=lambda path: cli_answers[path][0]["probability"] - cli_answers[path][1]["probability"])


@pytest.fixture(scope="module")
def cli_answer(cli_answers, picture) -> dict:
    return cli_answers[picture][0]


@pytest.fixture(scope="module")
def web_page(browser, web_export, picture, workspace):
    """The exported index.html in a Chromium whose fake camera films the picture."""
    video = write_y4m(picture, workspace / "camera.y4m")
    camera_args = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                   f"--use-file-for-fake-video-capture={video}"]
    chromium = browser.browser_type.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS + camera_args)
    context = chromium.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.problems = []
    tab.on("pageerror", lambda error: tab.problems.append(str(error)))
    try:
        tab.goto((web_export / "web" / "index.html").as_uri())
        expect(tab.locator("body")).to_have_attribute("data-ready", "true", timeout=60_000)
        yield tab
    finally:
        context.close()
        chromium.close()


def test_the_camera_shows_the_class_the_cli_names(web_page, cli_answer, shots):
    assert web_page.locator("#status").inner_text() == "Ready: use the camera, or drop or choose a picture."
    web_page.get_by_role("button", name="Use the camera").click()
    answer = web_page.locator("#answer[data-source='camera']")
    expect(answer).to_have_attribute("data-best", cli_answer["label"], timeout=30_000)
    expect(web_page.get_by_role("button", name="Stop the camera")).to_be_visible()
    # Filmed through YUV 4:2:0 and resized by the browser: close to Python's number, not equal.
    assert abs(float(answer.get_attribute("data-probability")) - cli_answer["probability"]) < 0.1
    shots.take(web_page, "10-export-web-page", settled=False)
    assert web_page.problems == []


def drop_file(page, path: Path, name: str) -> None:
    """Drop a file on the page, as a person dragging it from their folder would."""
    transfer = page.evaluate_handle("""([name, bytes]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
        return transfer;
    }""", [name, list(path.read_bytes())])
    page.locator("#drop").dispatch_event("drop", {"dataTransfer": transfer})


def test_a_dropped_or_chosen_picture_gets_the_cli_answer(web_page, cli_answer, picture):
    drop_file(web_page, picture, "dropped.png")
    expect(web_page.locator("#status")).to_have_text("Looking at dropped.png.")
    answer = web_page.locator("#answer[data-source='picture']")
    expect(answer).to_have_attribute("data-best", cli_answer["label"], timeout=30_000)

    web_page.locator("#picture-input").set_input_files(str(picture))
    expect(web_page.locator("#status")).to_have_text(f"Looking at {picture.name}.")
    expect(answer).to_have_attribute("data-best", cli_answer["label"], timeout=30_000)
    expect(web_page.get_by_role("button", name="Use the camera")).to_be_visible()  # choosing stopped the camera
    shown = float(answer.get_attribute("data-probability"))
    assert abs(shown - cli_answer["probability"]) < 0.05, (shown, cli_answer)
    expect(answer).to_have_text(cli_answer["label"] if shown >= 0.5 else "I’m not sure")

    slider = web_page.get_by_role("slider")
    slider.focus()
    slider.press("End")  # 100 %: nothing is that sure
    expect(answer).to_have_text("I’m not sure")
    expect(web_page.locator("#detail")).to_contain_text(f"Best guess: {cli_answer['label']} at ")
    expect(web_page.locator("#bars .row")).to_have_count(3)  # the probabilities are still shown
    assert web_page.problems == []


def test_a_picture_unlike_every_class_is_none_of_these_as_on_the_command_line(web_page, shared, server, workspace):
    """Coloured noise looks like none of the drawn shapes: the zip's familiarity says so on the command line,
    and the web page answers "None of these" with the same familiarity, from the model's second output."""
    noise = workspace / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(noise)
    done = subprocess.run([sys.executable, "-m", "tlcore", "predict", str(shared["export_zip"]), str(noise)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=dict(os.environ, TLSTUDIO_HOME=str(server.home)))
    line = json.loads(done.stdout)
    assert done.returncode == 0 and line["label"] is None and line["sure"] is False, line
    threshold = json.loads(zipfile.ZipFile(shared["export_zip"]).read("answers.json"))["familiar_threshold"]
    assert line["familiar"] < threshold

    drop_file(web_page, noise, "noise.png")
    answer = web_page.locator("#answer[data-source='picture']")
    expect(answer).to_have_attribute("data-none", "true", timeout=30_000)
    expect(answer).to_have_text("None of these")
    expect(web_page.locator("#detail")).to_contain_text("It looks unlike the pictures the model learned from")
    assert abs(float(answer.get_attribute("data-familiar")) - line["familiar"]) < 0.1
    assert web_page.problems == []

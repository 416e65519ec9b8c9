"""The Predict & export page through AppTest: "I'm not sure", the export's steps, the web page notice."""
import shutil
from pathlib import Path

import pytest

from apptest_support import home, offline_weights, open_app, texts  # noqa: F401
from imagegen import image_bytes, make_image
from tlcore.serve import webvendor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained_run(shapes_run) -> Path:
    """The session's finished run; each test copies it into its own studio home."""
    return shapes_run.run_dir


@pytest.fixture
def run_id(home, trained_run) -> str:
    shutil.copytree(trained_run, home / "studio" / "runs" / trained_run.name)
    return trained_run.name


def answers(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**")]


def test_a_picture_below_the_confidence_set_is_not_sure(run_id):
    at = open_app("app_pages/predict.py")
    slider = at.slider(key="min_confidence")
    assert slider.value == 50 and "I’m not sure" in slider.label
    circle = ("circle.png", image_bytes(make_image(0, 999)), "image/png")
    at.file_uploader(key=f"predict_images_{run_id}").set_value([circle]).run()
    assert not at.exception
    assert answers(at) and answers(at)[0].startswith(("**circles** · ", "**squares** · ", "**crosses** · ")), answers(at)
    best = answers(at)[0].split("**")[1]

    at.slider(key="min_confidence").set_value(100).run()
    assert not at.exception
    assert answers(at)[0].startswith(f"**I’m not sure** · best guess {best} at ")
    assert answers(at)[0].endswith("below the 100% you set")
    assert list(at.dataframe[0].value["class"])[0] == best  # the probabilities are still shown


@pytest.mark.slow
def test_the_export_names_its_steps_and_what_the_zip_lacks(run_id):
    at = open_app("app_pages/predict.py")
    at.multiselect[0].set_value(["torchscript"]).run()
    assert "No web page in this zip: it runs the ONNX model. Pick ONNX to have it." in texts(at.caption)
    next(b for b in at.button if b.label == "Prepare the download").click().run()
    assert not at.exception and not at.error
    made = next(c.value for c in at.caption if c.value.startswith("Made in "))
    assert all(step in made for step in ("TorchScript ", "README, predict.py and the web page ", "Packing the zip "))
    assert "ONNX" not in made
    assert at.get("download_button")


def test_without_onnxruntime_web_the_page_says_the_zip_has_no_web_page(run_id, home, monkeypatch):
    monkeypatch.setenv(webvendor.VENDOR_ENV, str(home / "no-vendor"))
    at = open_app("app_pages/predict.py")
    assert not at.exception
    assert "The zip will have no web page: onnxruntime-web 1.30.0 has not been fetched" in texts(at.warning)

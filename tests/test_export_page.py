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


def test_a_picture_unlike_every_class_is_none_of_these_and_a_class_can_ask_more(run_id):
    import numpy as np
    from PIL import Image

    at = open_app("app_pages/predict.py")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    circle = ("circle.png", image_bytes(make_image(0, 999)), "image/png")
    at.file_uploader(key=f"predict_images_{run_id}").set_value([("noise.png", image_bytes(noise), "image/png"),
                                                                circle]).run()
    assert not at.exception
    said = answers(at)
    assert said[0].startswith("**None of these** · it looks unlike the pictures the model learned from (familiar ")
    assert not said[1].startswith(("**None of these**", "**I’m not sure**")), said
    best = said[1].split("**")[1]

    # The circle's class asks more than any answer can reach: that class alone is "not sure".
    at.multiselect(key=f"class_confidence_{run_id}").set_value([best]).run()
    index = ["circles", "crosses", "squares"].index(best)  # the sliders are keyed by the class's place
    at.slider(key=f"class_confidence_{run_id}_{index}").set_value(100).run()
    assert not at.exception
    assert answers(at)[1].startswith(f"**I’m not sure** · best guess {best} at ") and \
        answers(at)[1].endswith("below the 100% you set")


@pytest.mark.slow
def test_the_export_names_its_steps_and_what_the_zip_lacks(run_id):
    at = open_app("app_pages/predict.py")
    at.multiselect(key="export_formats").set_value(["torchscript"]).run()
    assert "No web page in this zip: it runs the ONNX model. Pick ONNX to have it." in texts(at.caption)
    next(b for b in at.button if b.label == "Prepare the download").click().run()
    assert not at.exception and not at.error
    made = next(c.value for c in at.caption if c.value.startswith("Made in "))
    assert all(step in made for step in ("TorchScript ", "README, predict.py and the web page ", "Packing the zip "))
    assert "ONNX" not in made
    # The zip is named after the run, as the person knows it, not after its folder.
    assert at.get("download_button")[0].proto.label.startswith("Download shapes - feature extraction.zip (")


def test_without_onnxruntime_web_the_page_says_the_zip_has_no_web_page(run_id, home, monkeypatch):
    monkeypatch.setenv(webvendor.VENDOR_ENV, str(home / "no-vendor"))
    at = open_app("app_pages/predict.py")
    assert not at.exception
    assert "The zip will have no web page: onnxruntime-web 1.30.0 has not been fetched" in texts(at.warning)


def test_a_cancelled_runs_best_model_so_far_can_be_tried_and_says_so(run_id, home):
    from tlcore.runs import RunFolder

    RunFolder(home / "studio" / "runs" / run_id).update_status(state="cancelled", epochs_run=4, best_epoch=3)
    at = open_app("app_pages/predict.py")
    picker = at.selectbox(key="predict_run_picker")
    assert picker.value == run_id and picker.options[0].endswith(" · stopped before the end")
    assert "This run was stopped before the end, after 4 rounds: this is its best model so far (round 3)" \
        in texts(at.info)
    circle = ("circle.png", image_bytes(make_image(0, 999)), "image/png")
    at.file_uploader(key=f"predict_images_{run_id}").set_value([circle]).run()
    assert not at.exception and answers(at)

    at.switch_page("app_pages/runs.py").run()
    assert "Cancelled after" in texts(at.info) and "Its best model so far was kept" in texts(at.caption)
    assert any(link.label == "Try it on new images" for link in at.get("page_link"))


def test_file_names_of_exports_come_from_the_runs_name():
    from dataclasses import replace

    from tlcore.config import RunConfig
    from tlcore.runs import RunSummary
    from tlcore.runs.store.notes import RunNotes
    from ui import format as fmt

    run = RunSummary("20261122-101500-ab12", Path("/runs/20261122-101500-ab12"), RunConfig(data="/data/fm5"), {})
    named = lambda name: replace(run, notes=RunNotes(name=name))
    assert fmt.file_name(replace(run, repeat=2)) == "fm5 - feature extraction - 2"
    assert fmt.file_name(named("Shoes: first/try")) == "Shoes first try"
    assert fmt.file_name(named("Ёлки")) == "Ёлки"  # letters of any script
    assert fmt.file_name(named("x\x1b[2J\u202ey")) == "x 2J y"  # nothing a terminal or a file system would act on
    assert fmt.file_name(named("con")) == fmt.file_name(named("...")) == fmt.file_name(replace(run, config=None)) \
        == run.run_id  # no name left, or one Windows refuses: the run's id
    assert len(fmt.file_name(named("a" * 300))) == 80

"""Every page driven through Streamlit's AppTest: data in, report, a real run, live view, prediction."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, RUN_TIMEOUT_S, home, offline_weights, open_app, open_folder, table, texts  # noqa: F401
from imagegen import image_bytes, make_image, make_image_folder
from tlcore import runs
from tlcore.data import datasets
from tlcore.data.overrides import Overrides, load_overrides
from tlcore.runs import RunFolder
from tlcore.config import RunConfig

def test_home_renders_with_device_and_quick_start(home):
    at = open_app()
    assert at.title[0].value == "Transfer Learning Studio"
    assert "CPU" in texts(at.sidebar.markdown) or "GPU" in texts(at.sidebar.markdown)
    assert any(b.label == "Try the sample dataset" for b in at.button)


def test_sample_button_scans_and_opens_train(home):
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert "5 classes, 160 pictures to learn from and 40 to check on" in texts(at.markdown)


def test_folder_upload_is_saved_scanned_and_reported(home):
    source = make_image_folder(home / "src", {"cats": 6, "dogs": 9})
    files = [(f"pets/{p.relative_to(source).as_posix()}", p.read_bytes(), "image/png")
             for p in sorted(source.rglob("*.png"))]
    files.append(("pets/cats/notes.txt", b"not an image", "text/plain"))
    at = open_app("app_pages/data.py")
    uploader = next(u for u in at.file_uploader if u.accept_directory)
    uploader.set_value(files).run()
    assert not at.exception
    assert "Check before training: pets" in texts(at.header)
    assert [m.value for m in at.metric] == ["2", "12", "3", "1"]  # classes, train, val, skipped
    table = at.dataframe[0].value
    assert dict(zip(table["class"], table["total"])) == {"cats": 6, "dogs": 9}
    assert at.get("plotly_chart") and at.get("image")
    assert "pets/cats/notes.txt" not in list(at.dataframe[-1].value["file"])
    assert "cats/notes.txt" in list(at.dataframe[-1].value["file"])
    uploads = list((home / "studio" / "data").glob("upload-*"))
    assert len(uploads) == 1 and len(list((uploads[0] / "dogs").glob("*.png"))) == 9
    # The uploader was replaced by an empty one, so the server no longer holds the bytes.
    fresh = next(u for u in at.file_uploader if u.accept_directory)
    assert fresh.key != uploader.key and not fresh.value


def test_server_folder_outside_allowed_roots_is_refused(home):
    at = open_folder(open_app("app_pages/data.py"), Path("/etc"))
    assert not at.exception
    assert "outside the folders this app may open" in texts(at.error)


def test_a_path_longer_than_the_system_allows_is_refused_in_words(home):
    at = open_folder(open_app("app_pages/data.py"), home / ("very-long-name-" * 30))
    assert not at.exception
    assert "longer than this computer allows" in texts(at.error)
    assert any(b.label == "Use this folder" for b in at.button)  # the page goes on drawing


def test_a_dataset_whose_pictures_changed_is_checked_again_from_the_library(home):
    folder = make_image_folder(home / "pets", {"cats": 4, "dogs": 4})
    at = open_folder(open_app("app_pages/data.py"), folder)
    record, = datasets.list_datasets()
    gone, kept = sorted(datasets.load_manifest(record).samples, key=lambda s: s.path)[:2]
    corrections = Overrides()
    corrections.exclude(gone)
    corrections.relabel(kept, "dogs", record.classes)
    datasets.save_corrections(record, corrections)
    Path(gone.path).unlink()
    next(b for b in at.button if b.label == "Check again").click()
    at.run()
    assert not at.exception
    assert "'pets' was checked again" in texts(at.success)
    record, = datasets.list_datasets()
    assert record.name == "pets" and record.images() == 7  # the new check replaced the old one
    kept_corrections = load_overrides(record.folder).current()  # those of pictures it still has go on
    assert list(kept_corrections) == [kept.key] and kept_corrections[kept.key]["to"] == "dogs"


def test_folder_with_one_class_shows_the_reason(home):
    folder = make_image_folder(home / "one", {"cats": 5})
    at = open_folder(open_app("app_pages/data.py"), folder)
    assert not at.exception
    assert "'one' cannot be used: found only 1 class ('cats')" in texts(at.error)  # names what was refused
    assert "Check before training" not in texts(at.header)  # no report for a refused dataset


def test_refused_upload_is_named_as_uploaded_and_removed(home):
    source = make_image_folder(home / "src", {"cats": 4})
    files = [(f"pets/{p.relative_to(source).as_posix()}", p.read_bytes(), "image/png") for p in source.rglob("*.png")]
    at = open_app("app_pages/data.py")
    next(u for u in at.file_uploader if u.accept_directory).set_value(files).run()
    assert not at.exception
    assert "'pets' cannot be used: found only 1 class ('cats')" in texts(at.error)
    assert "upload-" not in texts(at.error)
    assert not list((home / "studio" / "data").glob("upload-*"))


def test_upload_that_is_not_a_zip_shows_the_reason(home):
    at = open_app("app_pages/data.py")
    next(u for u in at.file_uploader if not u.accept_directory).set_value(
        ("photos.zip", b"these bytes are no zip", "application/zip")).run()
    assert not at.exception
    assert "'photos.zip' is not a valid zip file" in texts(at.error)
    assert not list((home / "studio" / "data").glob("upload-*"))  # nothing left behind


def test_train_page_without_dataset_points_to_data(home):
    at = open_app("app_pages/train.py")
    assert "First choose the images" in texts(at.info)
    assert not at.button


def test_backbone_without_weights_is_marked_and_offers_scratch(home):
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    picker = at.selectbox(key="backbone")
    assert "not available here" in picker.format_func("resnet18")
    assert "not available here" not in picker.format_func("mobilenet_v2")
    picker.select("resnet18").run()
    assert "pretrained weights are not available here" in texts(at.warning)
    assert next(b for b in at.button if b.label == "Start training").disabled
    at.radio[0].set_value("scratch").run()
    assert not at.warning and not next(b for b in at.button if b.label == "Start training").disabled
    at.selectbox(key="backbone").select("vit_b_16").run()  # a backbone with one fixed image size
    assert not at.exception
    assert next(s for s in at.select_slider if s.label.startswith("Picture size")).value == 224


@pytest.mark.slow
def test_time_estimates_come_from_a_measurement_kept_for_next_time(home):
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    next(s for s in at.select_slider if s.label.startswith("Picture size")).set_value(32).run()
    compare = table(at, "network")
    time_column = next(c for c in compare.columns if c.startswith("time for this run on "))
    assert set(compare[time_column]) <= {"not measured yet", "needs images of 224 px or more"}

    next(b for b in at.button if b.label == "Estimate the time on this device").click().run()
    assert not at.exception and not at.error
    assert "About **" in texts(at.info) and "images/s forward" in texts(at.info)
    compare = table(at, "network")
    times = dict(zip(compare["network"], compare[time_column]))
    assert times["MobileNetV2"] not in ("not measured yet", "—") and times["ResNet-18"] == "not measured yet"
    unmeasured = sum(time == "not measured yet" for time in times.values())
    assert unmeasured >= 9 and any(b.label.startswith(f"Time the {unmeasured} networks not measured yet")
                                   for b in at.button)

    # A new session (a restart, another browser) finds the measurement on disk: no button, no wait.
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    next(s for s in at.select_slider if s.label.startswith("Picture size")).set_value(32).run()
    assert "About **" in texts(at.info)
    assert not any(b.label == "Estimate the time on this device" for b in at.button)


def test_failed_run_shows_its_error_in_words(home):
    run_dir = runs.create_run(RunConfig(data=str(home / "gone")))
    RunFolder(run_dir).update_status(state="failed", error="The dataset source 'gone' does not exist.")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.name
    at.run().switch_page("app_pages/runs.py").run()
    assert not at.exception
    assert "The dataset source 'gone' does not exist." in texts(at.error)


@pytest.mark.slow
def test_train_watch_predict_export(home, offline_weights):
    folder = make_image_folder(home / "shapes", {"circles": 10, "squares": 10})
    at = open_folder(open_app("app_pages/data.py"), folder)
    assert "Check before training: shapes" in texts(at.header)

    at.switch_page("app_pages/train.py").run()
    at.slider(key="epochs_feature_extraction").set_value(2)
    next(s for s in at.select_slider if s.label.startswith("Picture size")).set_value(64)
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    assert at.title[0].value == "Runs"
    run_id = at.query_params["run"]
    at.switch_page("app_pages/runs.py")  # AppTest would otherwise rerun the page it was last sent to

    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not at.success and time.monotonic() < deadline:
        assert not at.error, texts(at.error)
        time.sleep(1)
        at.run()
    assert not at.exception
    assert "best validation accuracy" in texts(at.success), RunFolder(home / "studio" / "runs" / run_id).read_status()
    assert "shapes · feature extraction" in texts(at.subheader)  # the run's name, not its id
    assert len(at.get("plotly_chart")) >= 3  # loss, accuracy, confusion matrix
    assert "Confusion matrix (counts)" in str(at.get("plotly_chart")[2].proto.spec)
    at.toggle(key=f"normalize_{run_id}").set_value(True).run()
    shares = str(at.get("plotly_chart")[2].proto.spec)
    assert "share of each" in shares and "true class" in shares  # its title on two lines
    assert list(at.dataframe[-1].value["class"]) == ["circles", "squares"]  # per-class scores

    at.switch_page("app_pages/predict.py").run()
    assert not at.exception
    upload = ("circle.png", image_bytes(make_image(0, 999)), "image/png")
    at.file_uploader(key=f"predict_images_{run_id}").set_value([upload]).run()
    assert not at.exception
    assert any(m.value.startswith(("**circles**", "**squares**")) for m in at.markdown), repr(at.main.children)
    at.toggle(key=f"camera_on_{run_id}").set_value(True).run()  # the camera, beside the uploads
    assert not at.exception and at.get("camera_input")
    grad_cam = next(t for t in at.toggle if t.key.startswith(f"grad_cam_{run_id}"))
    grad_cam.set_value(True).run()  # what the network looks at: the picture beside its heat map
    assert not at.exception and not at.error
    assert any(str(c).startswith("where it found") for image in at.get("image") for c in [image.proto.imgs[0].caption])

    at.multiselect(key="export_formats").set_value(["torchscript"])
    next(b for b in at.button if b.label == "Prepare the download").click().run()
    assert not at.exception and not at.error
    assert at.get("download_button")


def test_more_settings_reach_the_run(home):
    """Varied copies, the mirror check and class balancing, chosen on the Train page, are in the run's config."""
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    at.number_input(key="augment_views").set_value(3)
    at.checkbox(key="tta").check()
    at.selectbox(key="balance").select("off")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    config = RunFolder(home / "studio" / "runs" / at.query_params["run"]).load_config()
    assert (config.augment_views, config.tta, config.balance) == (3, True, "off")

"""The Train and Data pages for L2-SP and domain alignment: settings from the registry, the target pictures."""
import json

from apptest_support import home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image, make_image_folder, save_image
from tlcore import runs
from tlcore.data.samples import SYSTEM_FASHION_MNIST
from tlcore.runs import RunFolder

import pytest


def start_button(at):
    return next(b for b in at.button if b.label == "Start training")


def test_l2_sp_shows_its_settings_and_starts_a_run_on_the_checked_dataset(home):
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    at.radio(key="strategy").set_value("l2_sp").run()
    assert not at.exception
    assert "anchored to the pretrained weights" in at.radio(key="strategy").format_func("l2_sp")
    assert "few pictures per class" in texts(at.caption)
    alpha = at.number_input(key="l2_sp_alpha")
    assert alpha.value == 0.1 and "(L2-SP alpha)" in alpha.label
    alpha.set_value(0.5)
    at.slider(key="epochs_l2_sp").set_value(1)
    start_button(at).click().run()
    assert not at.exception and at.title[0].value == "Runs"
    run_dir = home / "studio" / "runs" / at.query_params["run"]
    RunFolder(run_dir).request_cancel()  # what was asked is what this test checks, not the training
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"] == "l2_sp" and config["options"] == {"alpha": 0.5, "beta": 0.01}
    assert (run_dir / RunFolder.CHECKED_MANIFEST).is_file()  # the worker trains on what the Data page checked


def test_domain_alignment_without_target_pictures_says_where_to_get_them(home):
    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    at.radio(key="strategy").set_value("domain_adaptation").run()
    assert "needs a folder of pictures from where the model will be used" in texts(at.warning)
    assert start_button(at).disabled


def test_target_pictures_from_a_folder_labelled_or_not(home):
    source = make_image_folder(home / "shapes", {"circles": 6, "squares": 6})
    target = make_image_folder(home / "elsewhere", {"circles": 3, "triangles": 2}, seed=9)
    for i in range(2):
        save_image(make_image(0, seed=50 + i), target / f"loose_{i}.png")
    at = open_folder(open_app("app_pages/data.py"), source)
    at.text_input(key="target_path_text").set_value(str(target))
    next(b for b in at.button if b.label == "Use this folder as the pictures where it will be used").click().run()
    assert not at.exception and not at.error
    assert "**elsewhere**, 7 pictures, 3 of them in folders named like your classes" in texts(at.success)
    assert "triangles" in texts(at.warning)

    at.switch_page("app_pages/train.py").run()
    at.radio(key="strategy").set_value("domain_adaptation").run()
    assert "it trains on them without their labels" in "\n".join(m.value for m in at.markdown)
    assert not start_button(at).disabled

    # The training pictures themselves are refused as a target, in words.
    at.switch_page("app_pages/data.py").run()
    at.text_input(key="target_path_text").set_value(str(source))
    next(b for b in at.button if b.label == "Use this folder as the pictures where it will be used").click().run()
    assert "training pictures themselves" in texts(at.error)


@pytest.mark.slow
@pytest.mark.skipif(not SYSTEM_FASHION_MNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_domain_shift_pair_is_one_click(home):
    at = open_app("app_pages/data.py")
    next(b for b in at.button if b.label == "Use the domain-shift pair").click().run()
    assert not at.exception and not at.error
    assert "Fashion-MNIST, tinted on striped backgrounds" in texts(at.success)
    assert "500 pictures, 500 of them in folders named like your classes" in texts(at.success)


def test_a_dann_run_shows_its_accuracy_where_it_will_be_used(home, offline_weights):
    from streamlit.testing.v1 import AppTest

    from apptest_support import APP
    from tlcore import paths
    from tlcore.config import RunConfig
    from tlcore.runs.execution.worker import execute_run

    source = make_image_folder(home / "shapes", {"circles": 6, "squares": 6})
    target = make_image_folder(home / "elsewhere", {"circles": 3, "squares": 3}, seed=9)
    run_dir = runs.create_run(RunConfig(data=str(source), strategy="domain_adaptation", target=str(target),
                                        image_size=32, batch_size=4, epochs=1, head_epochs=1,
                                        extra={"target_name": "elsewhere"}), paths.runs_dir())
    assert execute_run(run_dir)["state"] == "succeeded"
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_dir.name
    at.run().switch_page("app_pages/runs.py").run()
    assert not at.exception
    assert "On 'elsewhere' (6 labelled pictures) the kept model is right on" in texts(at.info)
    assert "domain classifier told the two sets apart" in texts(at.info)
    figure = str(at.get("plotly_chart")[1].proto.spec)
    assert "where it will be used" in figure and "domain classifier" in figure
    at.multiselect(key="compare_runs").select(run_dir.name).run()
    assert "accuracy where it will be used" in at.table[0].value.columns

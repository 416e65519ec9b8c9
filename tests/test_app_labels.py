"""The Data page's "Check the labels": flagged pictures relabelled or left out, undone, and the next run
trains on the corrections."""
import json
from pathlib import Path

import pytest

from apptest_support import home, offline_weights, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths
from tlcore.data.manifest import Manifest


@pytest.mark.slow
def test_a_relabelled_picture_is_trained_with_its_new_label(home, offline_weights):
    data = make_image_folder(home / "colours", {"reds": 10, "blues": 10, "greens": 10}, size=(40, 40))
    picture = sorted((data / "reds").iterdir())[0]
    moved = picture.rename(data / "blues" / f"moved-{picture.name}")
    at = open_folder(open_app("app_pages/data.py"), data)
    next(b for b in at.button if b.label == "Check the labels").click().run()
    assert not at.exception and "look mislabelled" in texts(at.caption)
    key = next(b.key for b in at.button if b.label.startswith("Relabel as"))[len("do_relabel_"):]
    assert next(b for b in at.button if b.key == f"do_relabel_{key}").label == "Relabel as reds"

    next(b for b in at.button if b.key == f"do_relabel_{key}").click().run()
    assert "Your corrections: 1 picture(s) relabelled, 0 left out" in texts(at.info)
    next(b for b in at.button if b.label == "Undo the last correction").click().run()
    assert "Your corrections" not in texts(at.info)
    next(b for b in at.button if b.key == f"do_relabel_{key}").click().run()

    at.switch_page("app_pages/train.py").run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception and at.title[0].value == "Runs"
    run_dir = paths.runs_dir() / at.query_params["run"]
    checked = Manifest.load(run_dir / "checked_manifest.json")
    sample = next(s for s in checked.samples if s.key == key)
    assert checked.classes[sample.label] == "reds" and sample.path == str(moved.resolve())
    assert json.loads((run_dir / "config.json").read_text())["extra"]["label_corrections"] == 1
    assert moved.exists() and moved.parent.name == "blues"  # the file stays where it was
    next(b for b in at.button if b.label == "Cancel this run").click().run()


def test_every_suspicious_picture_can_be_seen_with_its_file_name(home):
    from tlcore.serve.labels import LabelCheck, Suspect

    data = make_image_folder(home / "colours", {"reds": 12, "blues": 12}, size=(40, 40))
    at = open_folder(open_app("app_pages/data.py"), data)
    dataset = at.session_state["dataset"]
    classes = dataset.manifest.classes
    flagged = dataset.manifest.samples[:19]  # as if the check had found 19 (it takes seconds; see the test above)
    found = LabelCheck([Suspect(s.path, s.key, classes[s.label], classes[1 - s.label], 0.1) for s in flagged],
                       len(dataset.manifest.samples), 1.0, 5)
    at.session_state["label_check"] = (dataset.dataset_id, 0, found)
    at.run()
    assert "19 of 24 pictures look mislabelled" in texts(at.caption)
    shown = [t.value for t in at.text]
    assert len(shown) == 12 and shown[0] == Path(flagged[0].path).relative_to(data.resolve()).as_posix()
    assert "Showing 12 of the 19 still to look at." in texts(at.caption)

    next(b for b in at.button if b.label == "Show 7 more").click().run()
    assert not at.exception
    assert [t.value for t in at.text] == [Path(s.path).relative_to(data.resolve()).as_posix() for s in flagged]
    assert not any(b.label.startswith("Show ") and b.label.endswith(" more") for b in at.button)


def test_the_train_page_counts_without_the_pictures_left_out(home):
    from tlcore.data import datasets
    from tlcore.data.overrides import Overrides

    data = make_image_folder(home / "colours", {"reds": 10, "blues": 10})
    at = open_folder(open_app("app_pages/data.py"), data)
    record, = datasets.list_datasets()
    manifest = datasets.load_manifest(record)
    corrections = Overrides()
    corrections.exclude(manifest.split("train")[0])
    datasets.save_corrections(record, corrections)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    train, val = len(manifest.split("train")), len(manifest.split("val"))
    assert (f"{train - 1} pictures to learn from and {val} to check on (1 left out by your corrections)"
            in texts(at.markdown))

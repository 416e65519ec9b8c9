"""The datasets library: kept on disk, found again after a reload or in a new tab, renamed, deleted."""
import io
import json
import os
import time
import zipfile
from dataclasses import asdict

from apptest_support import home, open_app, open_folder, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore.data import datasets
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.data.scan import scan
from tlcore.data.imagecache import ImageCache
from tlcore.runs import RunFolder


def folder_files(source, top: str):
    return [(f"{top}/{p.relative_to(source).as_posix()}", p.read_bytes(), "image/png")
            for p in sorted(source.rglob("*.png"))]


def zip_bytes(source) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(source.rglob("*.png")):
            archive.write(path, f"pets/{path.relative_to(source).as_posix()}")
    return buffer.getvalue()


def upload_folder(at, files):
    next(u for u in at.file_uploader if u.accept_directory).set_value(files).run()
    return at


def library_rows(at) -> list[str]:
    """The library's rows as shown: "**name**", with " · :green-badge[in use]" for the chosen one."""
    names = {f"**{record.name}**" for record in datasets.list_datasets()}
    return [m.value for m in at.markdown if m.value.split(" · ")[0] in names]


def test_the_same_pictures_get_the_same_id_wherever_they_are(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    first = make_image_folder(tmp_path / "a" / "pets", {"cats": 4, "dogs": 4})
    copy = tmp_path / "b" / "pets"
    copy.parent.mkdir()
    import shutil

    shutil.copytree(first, copy)
    assert datasets.content_id(scan(first, cache=cache)) == datasets.content_id(scan(copy, cache=cache))
    (copy / "cats").rename(copy / "kittens")  # other class names: another dataset
    assert datasets.content_id(scan(first, cache=cache)) != datasets.content_id(scan(copy, cache=cache))


def test_a_chosen_dataset_survives_a_reload_and_a_new_tab(home):
    source = make_image_folder(home / "src", {"cats": 6, "dogs": 6})
    at = upload_folder(open_app("app_pages/data.py"), folder_files(source, "pets"))
    assert "Check before training: pets" in texts(at.header)
    dataset_id = at.query_params["dataset"]
    dataset_id = dataset_id if isinstance(dataset_id, str) else dataset_id[0]
    # A new session is what a reload or a second tab gets: nothing of the first one's memory.
    other = open_app("app_pages/train.py")
    assert "Training on **pets**" in texts(other.markdown)
    assert other.session_state["dataset"].dataset_id == dataset_id
    data_page = open_app("app_pages/data.py")
    assert library_rows(data_page) == ["**pets** · :green-badge[in use]"]


def test_the_same_pictures_uploaded_as_a_zip_are_offered_as_the_existing_dataset(home):
    source = make_image_folder(home / "src", {"cats": 6, "dogs": 6})
    at = upload_folder(open_app("app_pages/data.py"), folder_files(source, "pets"))
    next(u for u in at.file_uploader if not u.accept_directory).set_value(
        [("pets.zip", zip_bytes(source), "application/zip")]).run()
    assert not at.exception
    assert "already in the studio as 'pets'" in texts(at.info)
    assert len(datasets.list_datasets()) == 1
    assert len(list(paths.data_dir().glob("upload-*"))) == 1  # the second copy was removed


def test_rename_use_and_delete_from_the_library(home):
    first = make_image_folder(home / "first", {"cats": 6, "dogs": 6})
    second = make_image_folder(home / "second", {"red": 6, "blue": 6}, size=(48, 36))  # other pictures
    at = open_folder(open_app("app_pages/data.py"), first)
    at = open_folder(at, second)
    assert library_rows(at) == ["**second** · :green-badge[in use]", "**first**"]
    record = next(r for r in datasets.list_datasets() if r.name == "first")
    run_dir = runs.create_run(RunConfig(data=record.root, extra={"dataset_id": record.id}), paths.runs_dir(),
                              claimed_by=os.getpid())  # trained by this process: the runner leaves it alone
    RunFolder(run_dir).update_status(state="succeeded", ended_at=time.time())
    at.run()
    assert "1 run trained on it" in texts(at.caption)

    at.text_input(key=f"name_{record.id}").set_value("Pets, first try")
    at.button(key=f"rename_{record.id}").click().run()
    assert "**Pets, first try**" in library_rows(at)

    at.button(key=f"use_{record.id}").click().run()
    assert "**Pets, first try** · :green-badge[in use]" in library_rows(at)
    assert "Check before training: Pets, first try" in texts(at.header)

    cached_before = sum(1 for _ in (paths.cache_dir() / "pixels").rglob("*.npy"))
    at.button(key=f"delete_{record.id}").click().run()
    assert not at.exception
    assert "Deleted 'Pets, first try'" in texts(at.success)
    assert [r.name for r in datasets.list_datasets()] == ["second"]
    assert sum(1 for _ in (paths.cache_dir() / "pixels").rglob("*.npy")) == cached_before - 12
    assert first.is_dir() and len(list(first.rglob("*.png"))) == 12  # the person's folder is never touched
    assert run_dir.is_dir()  # runs keep their results
    assert "Check before training" not in texts(at.header)  # the deleted one is no longer chosen


def test_a_dataset_a_run_still_trains_on_stays_until_the_run_ends(home):
    """A run reads its pictures from the cache a batch at a time to its last epoch: they must stay."""
    at = open_folder(open_app("app_pages/data.py"), make_image_folder(home / "pets", {"cats": 6, "dogs": 6}))
    record = datasets.list_datasets()[0]
    run_dir = runs.create_run(RunConfig(data=record.root, extra={"dataset_id": record.id}), paths.runs_dir(),
                              claimed_by=os.getpid())
    at.run()
    at.button(key=f"delete_{record.id}").click().run()
    assert "is not deleted: a run is still waiting or training on its pictures" in texts(at.error)
    assert [r.id for r in datasets.list_datasets()] == [record.id]
    RunFolder(run_dir).update_status(state="cancelled", ended_at=time.time())
    at.button(key=f"delete_{record.id}").click().run()
    assert datasets.list_datasets() == []


def test_deleting_an_upload_removes_the_studios_copy(home):
    source = make_image_folder(home / "src", {"cats": 6, "dogs": 6})
    at = upload_folder(open_app("app_pages/data.py"), folder_files(source, "pets"))
    record = datasets.list_datasets()[0]
    assert record.studio_copy and len(list(paths.data_dir().glob("upload-*"))) == 1
    at.button(key=f"delete_{record.id}").click().run()
    assert not list(paths.data_dir().glob("upload-*"))
    assert datasets.list_datasets() == []


def test_a_damaged_record_is_left_out_not_fatal(home):
    source = make_image_folder(home / "src", {"cats": 6, "dogs": 6})
    open_folder(open_app("app_pages/data.py"), source)
    record = datasets.list_datasets()[0]
    (record.folder / "dataset.json").write_text("[1, 2]")
    assert datasets.list_datasets() == []
    (record.folder / "dataset.json").write_text(json.dumps({**asdict(record), "used_at": "yesterday"}))
    assert datasets.list_datasets() == []  # a field of the wrong type would break the sorting
    at = open_app("app_pages/data.py")
    assert not at.exception

"""Uploads land on disk once, under clean names, always inside their own new folder."""
import io
import os
from pathlib import Path

import pytest

from imagegen import image_bytes, make_image, make_image_folder, write_zip_entries, zip_folder
from tlcore.data.manifest import DataError
from tlcore.data.names import escaped
from tlcore.data.uploads import safe_component, safe_relative_path, save_folder_upload, save_zip_upload

PNG = image_bytes(make_image(0, 1))


def uploaded(name: str, data: bytes = PNG) -> io.BytesIO:
    """What Streamlit hands over: a readable file object whose name the browser chose."""
    file = io.BytesIO(data)
    file.name = name
    return file


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_folder_upload_drops_the_picked_folder_name_and_keeps_classes(tmp_path):
    upload = save_folder_upload([uploaded("pets/cats/a.png"), uploaded("pets/dogs/b.png")], root=tmp_path)
    assert upload.name == "pets" and upload.files == 2 and not upload.skipped
    assert upload.path.parent == tmp_path and upload.path.name.startswith("upload-")
    assert files_under(upload.path) == ["cats/a.png", "dogs/b.png"]


@pytest.mark.parametrize("hostile", ["../../etc/x.png", "/abs/x.png", "pets/../../../x.png",
                                     "..\\..\\windows\\x.png", "C:\\temp\\x.png", "pets/./cats/../x.png"])
def test_hostile_names_land_inside_the_upload_folder(tmp_path, hostile):
    root = tmp_path / "data"
    upload = save_folder_upload([uploaded(hostile), uploaded("pets/cats/ok.png")], root=root)
    written = [p for p in upload.path.rglob("*") if p.is_file()]
    assert len(written) == 2
    for path in written:
        assert path.resolve().is_relative_to(upload.path.resolve())
    assert sorted(os.listdir(tmp_path)) == ["data"]  # nothing written beside the data folder
    assert {p.name for p in written} == {"x.png", "ok.png"}


def test_names_are_cleaned_component_by_component():
    assert safe_component("..") is None and safe_component(".") is None and safe_component("  ") is None
    assert safe_component("a\x00b\nc<>:|?*.png") == "abc.png"
    assert safe_component("CON.png") == "_CON.png"
    assert safe_component("name. . ") == "name"
    long = safe_component("x" * 400 + ".jpeg")
    assert long.endswith(".jpeg") and len(long.encode()) <= 150
    assert str(safe_relative_path("/a//b\\c/../d.png")) == "a/b/c/d.png"
    assert safe_relative_path("../..") is None


def test_names_that_clean_to_the_same_path_are_kept_apart(tmp_path):
    upload = save_folder_upload([uploaded("p/cats/a?.png"), uploaded("p/cats/a.png"), uploaded("p/cats/A.png")],
                                root=tmp_path)
    assert files_under(upload.path) == ["cats/A-3.png", "cats/a-2.png", "cats/a.png"]


def test_junk_files_are_left_out(tmp_path):
    upload = save_folder_upload([uploaded("p/cats/a.png"), uploaded("p/cats/.DS_Store"),
                                 uploaded("p/__MACOSX/cats/._a.png")], root=tmp_path)
    assert files_under(upload.path) == ["cats/a.png"]


def test_an_upload_with_nothing_usable_is_refused_and_removed(tmp_path):
    with pytest.raises(DataError, match="None of the 1 uploaded files"):
        save_folder_upload([uploaded("p/.hidden")], root=tmp_path)
    assert not list(tmp_path.iterdir())


def test_zip_upload_is_extracted_and_the_zip_removed(tmp_path):
    source = make_image_folder(tmp_path / "src", {"cats": 2, "dogs": 2})
    archive = zip_folder(source, tmp_path / "pets.zip", prefix="pets")
    root = tmp_path / "data"
    upload = save_zip_upload(uploaded("pets.zip", archive.read_bytes()), root=root)
    assert upload.name == "pets.zip" and upload.files == 4  # named as the person knows it
    assert files_under(upload.path)[0] == "pets/cats/cats_all_000.png"
    assert [p.name for p in root.iterdir()] == [upload.path.name]  # the zip itself is gone


def test_zip_entries_that_escape_are_skipped(tmp_path):
    archive = write_zip_entries(tmp_path / "evil.zip", {"../evil.png": PNG, "cats/a.png": PNG, "dogs/b.png": PNG})
    upload = save_zip_upload(uploaded("../../evil.zip", archive.read_bytes()), root=tmp_path / "data")
    assert files_under(upload.path) == ["cats/a.png", "dogs/b.png"]
    assert [s.path for s in upload.skipped] == ["../evil.png"]
    assert not (tmp_path / "evil.png").exists()


def test_a_file_that_is_not_a_zip_is_refused_and_nothing_is_left(tmp_path):
    with pytest.raises(DataError, match="'holiday.zip' is not a valid zip file"):
        save_zip_upload(uploaded("holiday.zip", b"plain text"), root=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("folders", [("cat", "cat."), ("cat", "Cat"), ("cat", "cat\u200b"), ("cat", "cat ")])
def test_folders_that_cleaning_would_merge_are_named_and_the_upload_refused(tmp_path, folders):
    files = [uploaded(f"pets/{folder}/{n}.png") for folder in folders for n in range(2)]
    with pytest.raises(DataError, match="differ only by capital letters") as caught:
        save_folder_upload([*files, uploaded("pets/dogs/d.png")], root=tmp_path)
    assert all(f"'pets/{escaped(folder)}'" in str(caught.value) for folder in folders)
    assert not list(tmp_path.iterdir())  # nothing kept of a refused upload


@pytest.mark.parametrize("blank", ["...", "   ", "\u200b"])
def test_a_folder_with_a_blank_name_is_named_instead_of_vanishing(tmp_path, blank):
    with pytest.raises(DataError, match="no letters or digits") as caught:
        save_folder_upload([uploaded(f"pets/{blank}/a.png"), uploaded("pets/cats/b.png")], root=tmp_path)
    assert f"'pets/{escaped(blank)}'" in str(caught.value)

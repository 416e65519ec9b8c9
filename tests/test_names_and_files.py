"""Names and files as people have them: look-alike, linked, duplicated and changing under the studio's feet."""
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from imagegen import image_bytes, make_image, make_image_folder, write_zip_entries, zip_folder
from tlcore import paths, runs
from tlcore.__main__ import main
from tlcore.config import RunConfig
from tlcore.data.archive import extract_zip
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import PICTURES_CHANGED, DataError, Skipped
from tlcore.data.scan import scan
from tlcore.runs.execution.worker import execute_run


def test_escape_codes_in_a_folder_name_reach_the_terminal_spelled_out(tmp_path, capsys, home):
    hostile = "cats\x1b[2J\x1b[31mFAKE OK\u202e"
    make_image_folder(tmp_path / "pets", {hostile: 3})  # one class only: the run fails, naming it
    assert main(["train", str(tmp_path / "pets"), "--epochs", "1"]) == 1
    error = capsys.readouterr().err
    assert "\x1b" not in error and "\u202e" not in error
    assert "cats\\x1b[2J\\x1b[31mFAKE OK\\u202e" in error


@pytest.fixture
def cache(tmp_path):
    return ImageCache(tmp_path / "cache")


def scan_small(root, cache, **settings):
    return scan(root, cache=cache, image_size=32, **settings)


def test_a_linked_class_folder_inside_the_dataset_is_read(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    make_image_folder(root / "kept", {"birds": 3})  # "kept/birds" is not a class: only a link to it is
    (root / "birds").symlink_to(root / "kept" / "birds", target_is_directory=True)
    manifest = scan_small(root, cache, link_roots=[])
    birds = manifest.classes.index("birds")
    assert sum(sample.label == birds for sample in manifest.samples) == 3  # was 0: "only 0 usable images"


def test_a_linked_class_folder_is_followed_inside_the_folders_the_studio_may_open(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    elsewhere = make_image_folder(tmp_path / "shared", {"birds": 4})
    (root / "birds").symlink_to(elsewhere / "birds", target_is_directory=True)
    assert len(scan_small(root, cache, link_roots=[tmp_path / "shared"]).samples) == 10
    refused = scan_small(root, cache, link_roots=[])  # outside them: not followed, and said why
    assert refused.classes == ["cats", "dogs"]
    assert [s.reason for s in refused.skipped if s.path == "birds"] == [
        "a link to a folder outside the folders the studio may open; not followed (they can be set with "
        "TLSTUDIO_ALLOWED_ROOTS)"]


@pytest.mark.parametrize("layout", ["wrapper", "split"])
def test_a_wrapper_or_split_folder_that_links_outside_is_not_entered(tmp_path, cache, layout):
    elsewhere = make_image_folder(tmp_path / "secret", {"secret_a": 3, "secret_b": 3})
    root = tmp_path / "ds"
    if layout == "wrapper":  # the only thing in the dataset folder: a wrapper would be unwrapped
        root.mkdir()
        (root / "inner").symlink_to(elsewhere, target_is_directory=True)
    else:  # train/ a link, val/ a folder of the dataset's own
        make_image_folder(root / "val", {"secret_a": 2, "secret_b": 2})
        (root / "train").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DataError) as caught:
        scan_small(root, cache, link_roots=[])
    assert not any("secret" in s.path for s in caught.value.skipped if "could not" in s.reason)
    assert any("not followed" in s.reason for s in caught.value.skipped)


def test_a_link_to_a_folder_above_is_not_walked_round_for_ever(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    (root / "cats" / "again").symlink_to(root, target_is_directory=True)
    (root / "dogs" / "other").symlink_to(root / "cats", target_is_directory=True)
    (root / "cats" / "other").symlink_to(root / "dogs", target_is_directory=True)
    manifest = scan_small(root, cache)  # every link may be followed: still ends
    assert "cats/again" in {s.path for s in manifest.skipped}
    assert sorted(manifest.classes) == ["cats", "dogs"]


def test_pictures_in_folders_inside_a_class_are_said_to_count_in_it(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    make_image_folder(root / "cats", {"indoor": 2})
    manifest = scan_small(root, cache)
    assert any("'cats/indoor' (2 files)" in warning for warning in manifest.warnings)
    assert not any("inside class folders" in w for w in scan_small(make_image_folder(
        tmp_path / "flat", {"a": 3, "b": 3}), cache).warnings)


def test_a_zip_with_two_entries_of_one_name_lists_the_second(tmp_path):
    first, second = image_bytes(make_image(0, 1)), image_bytes(make_image(1, 2))
    archive = write_zip_entries(tmp_path / "twice.zip", {"cats/a.png": first})
    with zipfile.ZipFile(archive, "a") as zipped:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate name, as it should
            zipped.writestr("cats/a.png", second)
    skipped = extract_zip(archive, tmp_path / "out")
    assert skipped == [Skipped("cats/a.png", "a second entry of the same name in the zip; the first one was kept")]
    assert (tmp_path / "out" / "cats" / "a.png").read_bytes() == first


def test_pictures_gone_or_damaged_since_the_check_fail_the_run_in_words(tmp_path, home):
    root = make_image_folder(tmp_path / "ds", {"cats": 5, "dogs": 5})
    manifest = scan(root, cache=ImageCache(paths.cache_dir()), image_size=32)
    gone, damaged = Path(manifest.samples[0].path), Path(manifest.samples[-1].path)
    gone.unlink()
    damaged.write_bytes(damaged.read_bytes()[:40])  # cut short, as a copy interrupted half-way
    config = RunConfig(data=str(root), image_size=48, batch_size=4, epochs=1)  # not the size checked: read again
    status = execute_run(runs.create_run(config, manifest=manifest))
    assert status["state"] == "failed"
    error = status["error"]
    assert error.startswith("2 pictures changed since the dataset was checked") and "Unexpected" not in error
    assert f"'{gone.parent.name}/{gone.name}' (the file does not exist)" in error
    assert f"'{damaged.parent.name}/{damaged.name}'" in error and "Check the dataset again" in error
    assert status["error_kind"] == PICTURES_CHANGED  # the Runs page offers to check it again


def test_a_class_refused_for_too_few_pictures_counts_its_skipped_files_as_the_list_does(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"bird": 1, "cats": 3})
    for where in ("bird/a.txt", "bird/b.txt", "cats/c.txt", "cats/d.txt"):
        (root / where).write_text("notes")
    zipped = zip_folder(root, tmp_path / "pets.zip", prefix="pets")  # entries keep the folder around them
    for source in (root, zipped):
        with pytest.raises(DataError) as caught:
            scan_small(source, cache, extract_dir=tmp_path / "unzipped")
        assert "2 of its files were skipped (of 4 skipped in all, listed below)" in str(caught.value)
        assert len(caught.value.skipped) == 4


def test_the_progress_bar_still_redraws_its_line_while_names_are_spelled_out(capsys):
    from tlcore.cli.terminal import spelled_out_stderr
    from tlcore.runs.execution.cli_progress import ProgressBar

    with spelled_out_stderr():
        ProgressBar(train_images=10)._draw("epoch 1 step 1/2")
        print("error: cats\r\x1b[2Jok", file=sys.stderr)
    written = capsys.readouterr().err
    bar, error = written.split("error: ")
    assert bar.startswith("\r[") and "\\x0d" not in bar
    assert error == "cats\\x0d\\x1b[2Jok\n"  # a name's carriage return cannot redraw the line

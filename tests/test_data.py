"""Dataset scanning, layouts, refusals, warnings, the split, manifests and safe zip extraction."""
import json
import re
import shutil
import zipfile

import numpy as np
import pytest

from imagegen import (image_bytes, make_image, make_image_folder, save_image, write_empty_file,
                      write_text_as_image, write_truncated_jpeg, write_zip_entries, zip_folder)
from tlcore.cpus import usable_cpu_count
from tlcore.data.decoding import load_split_arrays
from tlcore.data.scan import DataError, Manifest, extract_zip, scan
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import Skipped

SIZE = 16  # small arrays keep the tests fast; the logic does not depend on the size


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))


@pytest.fixture
def cache(tmp_path):
    return ImageCache(tmp_path / "cache")


def scan_small(source, cache, **kwargs):
    return scan(source, cache=cache, image_size=SIZE, **kwargs)


def class_names_of(manifest, split):
    return sorted({manifest.classes[s.label] for s in manifest.split(split)})


def test_class_folder_layout(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 10, "dogs": 12})
    manifest = scan_small(root, cache)
    assert manifest.classes == ["cats", "dogs"]
    assert len(manifest.samples) == 22 and manifest.skipped == []
    assert not manifest.split_given and manifest.image_size == SIZE
    assert manifest.counts() == {"cats": {"train": 8, "val": 2}, "dogs": {"train": 10, "val": 2}}
    sample = manifest.samples[0]
    assert sample.path == str((root / "cats" / "cats_all_000.png").resolve())
    assert cache.has(sample.key, SIZE)


def test_given_split_is_used_as_is(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 0, "dogs": 0, "fish": 0},
                             split={"train": 4, "val": {"cats": 2, "dogs": 1}, "test": 1})
    manifest = scan_small(root, cache)
    assert manifest.split_given
    assert manifest.classes == ["cats", "dogs", "fish"]
    counts = manifest.counts()
    assert counts["cats"] == {"train": 4, "val": 2, "test": 1}
    assert counts["fish"] == {"train": 4, "val": 0, "test": 1}
    assert all(s.split == "val" for s in manifest.samples if "/val/" in s.path)
    assert any("'fish'" in w and "validation" in w.lower() for w in manifest.warnings)


def test_train_and_test_without_val_draws_validation_from_train(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 0, "b": 0}, split={"train": 5, "test": 2})
    manifest = scan_small(root, cache)
    assert not manifest.split_given
    per_class = {"train": 4, "val": 1, "test": 2}
    assert manifest.counts() == {"a": per_class, "b": per_class}
    assert any("No val/ folder" in w for w in manifest.warnings)


def test_single_wrapper_folder_is_unwrapped(tmp_path, cache):
    make_image_folder(tmp_path / "outer" / "my data", {"cats": 3, "dogs": 3})
    manifest = scan_small(tmp_path / "outer", cache)
    assert manifest.classes == ["cats", "dogs"]
    assert manifest.root.endswith("my data")


def test_junk_files_and_folders_are_ignored(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    junk_files = [".DS_Store", "cats/.DS_Store", "dogs/Thumbs.db", "desktop.ini", "cats/._x.png"]
    for junk in junk_files:
        (root / junk).write_bytes(b"\x00junk")
    for folder in ["__MACOSX/cats", ".ipynb_checkpoints", "cats/__pycache__", ".hidden/dir"]:
        (root / folder).mkdir(parents=True)
        (root / folder / "x.png").write_bytes(image_bytes(make_image(0, 99)))
    manifest = scan_small(root, cache)
    assert manifest.classes == ["cats", "dogs"]
    assert len(manifest.samples) == 6
    # OS clutter goes without a word; a hidden folder someone made is listed, with the reason.
    assert manifest.skipped == [Skipped(".hidden", "hidden (its name starts with a dot); not used")]


def test_unusable_files_are_skipped_with_reasons(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    write_truncated_jpeg(root / "cats" / "cut.jpg")
    write_empty_file(root / "dogs" / "empty.png")
    write_text_as_image(root / "dogs" / "fake.jpg")
    (root / "dogs" / "notes.txt").write_text("hello")
    (root / "README.md").write_text("about this dataset")
    manifest = scan_small(root, cache)
    reasons = {s.path: s.reason for s in manifest.skipped}
    assert reasons == {
        "cats/cut.jpg": "truncated or corrupt image data",
        "dogs/empty.png": "empty file",
        "dogs/fake.jpg": "not a picture in a format the studio reads (JPEG, PNG, HEIC, AVIF, WebP, GIF, BMP, TIFF, PPM or MPO)",
        "dogs/notes.txt": "not an image file (.txt)",
        "README.md": "not inside a class folder",
    }
    assert len(manifest.samples) == 6


def test_progress_reports_every_file(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 2, "b": 3})
    (root / "a" / "notes.txt").write_text("x")
    calls = []
    scan_small(root, cache, on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_a_progress_callback_that_raises_stops_the_scan_promptly(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 100, "b": 100})

    class Cancelled(Exception):
        pass

    def cancel_at_five(done, total):
        if done == 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        scan_small(root, cache, on_progress=cancel_at_five)
    decoded = list((tmp_path / "cache" / "pixels").rglob("*.npy"))
    in_flight = usable_cpu_count()  # one decoding thread per core may finish the file it had begun
    assert len(decoded) < min(200, 5 + 8 * in_flight)  # the files not yet begun were dropped


@pytest.mark.parametrize("classes, message", [
    ({"cats": 5}, "Found only 1 class ('cats'); at least 2 class folders are needed."),
    ({"cats": 5, "dogs": 1}, "Class 'dogs' has only 1 usable image; every class needs at least 2."),
    ({"cats": 5, "birds": 0},
     "Class 'birds' has only 0 usable images; every class needs at least 2."),
    ({"cats": 5, "dogs": 1, "birds": 0},
     "Class 'birds' has only 0 usable images; every class needs at least 2 "
     "(also too few: 'dogs')."),
])
def test_refusals_name_the_problem(tmp_path, cache, classes, message):
    root = make_image_folder(tmp_path / "ds", classes)
    with pytest.raises(DataError) as caught:
        scan_small(root, cache)
    assert str(caught.value) == message


def test_refusal_explains_skipped_files_of_the_class(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 4, "dogs": 1})
    write_truncated_jpeg(root / "dogs" / "broken.jpg")
    with pytest.raises(DataError) as caught:
        scan_small(root, cache)
    assert "Class 'dogs' has only 1 usable image" in str(caught.value)
    assert "'dogs/broken.jpg': truncated or corrupt image data" in str(caught.value)
    assert [s.path for s in caught.value.skipped] == ["dogs/broken.jpg"]


def test_identical_copies_count_once_toward_the_minimum(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 4, "dogs": 1})
    shutil.copy(root / "dogs" / "dogs_all_000.png", root / "dogs" / "copy.png")
    with pytest.raises(DataError, match="Class 'dogs' has only 1 usable image"):
        scan_small(root, cache)


def test_images_without_class_folders_are_refused(tmp_path, cache):
    for i in range(3):
        save_image(make_image(0, i), tmp_path / "flat" / f"{i}.png")
    with pytest.raises(DataError, match="Found no class folders in 'flat'. The 3 files at the top"):
        scan_small(tmp_path / "flat", cache)


def test_given_split_needs_train_images_per_class(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 0, "b": 0}, split={"train": {"a": 3}, "val": 2})
    with pytest.raises(DataError, match="Class 'b' has no images in train/"):
        scan_small(root, cache)


def test_missing_or_odd_sources_are_refused(tmp_path, cache):
    with pytest.raises(DataError, match="does not exist"):
        scan_small(tmp_path / "nowhere", cache)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="neither a folder nor a .zip file"):
        scan_small(tmp_path / "notes.txt", cache)
    (tmp_path / "fake.zip").write_text("not a zip at all")
    with pytest.raises(DataError, match="'fake.zip' is not a valid zip file"):
        scan_small(tmp_path / "fake.zip", cache)


def test_duplicates_across_classes_and_splits_are_reported(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 0, "dogs": 0}, split={"train": 4, "val": 2})
    shutil.copy(root / "train/cats/cats_train_000.png", root / "train/dogs/stolen.png")
    shutil.copy(root / "train/dogs/dogs_train_001.png", root / "val/dogs/leak.png")
    manifest = scan_small(root, cache)
    cross = [w for w in manifest.warnings if "more than one class" in w]
    leak = [w for w in manifest.warnings if "in train and also in val" in w]
    assert len(cross) == 1 and "'train/cats/cats_train_000.png = train/dogs/stolen.png'" in cross[0]
    assert len(leak) == 1 and "'train/dogs/dogs_train_001.png = val/dogs/leak.png'" in leak[0]


def test_drawn_split_keeps_identical_copies_together(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 6, "dogs": 6})
    for i in range(6):
        shutil.copy(root / "cats" / f"cats_all_00{i}.png", root / "cats" / f"copy_{i}.png")
    manifest = scan_small(root, cache, val_fraction=0.5)
    splits_by_key = {}
    for sample in manifest.samples:
        splits_by_key.setdefault(sample.key, set()).add(sample.split)
    assert all(len(splits) == 1 for splits in splits_by_key.values())
    assert manifest.counts()["cats"] == {"train": 6, "val": 6}
    assert not any("in train and also in val" in w for w in manifest.warnings)


def test_quality_warnings(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"big": 14, "small": 4}, size=(20, 40))
    warnings = scan_small(root, cache).warnings
    assert any("imbalanced" in w and "'big' has 14" in w and "'small' only 4" in w
               for w in warnings)
    assert any("fewer than 10 images: 'small' (4)" in w for w in warnings)
    assert any(w.startswith("18 image(s) are smaller than 32 px") for w in warnings)
    balanced = make_image_folder(tmp_path / "ok", {"a": 10, "b": 12}, size=(40, 32))
    assert scan_small(balanced, cache).warnings == []


def test_split_is_stratified_seeded_and_deterministic(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 20, "b": 7, "c": 2})
    first = scan_small(root, cache, val_fraction=0.25, seed=3)
    again = scan_small(root, cache, val_fraction=0.25, seed=3)
    other = scan_small(root, cache, val_fraction=0.25, seed=4)
    assert first.counts() == {"a": {"train": 15, "val": 5}, "b": {"train": 5, "val": 2},
                              "c": {"train": 1, "val": 1}}
    assert [s.split for s in first.samples] == [s.split for s in again.samples]
    assert [s.split for s in first.samples] != [s.split for s in other.samples]
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    assert other.counts() == first.counts()


def test_split_of_one_class_ignores_files_added_to_another(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 10, "b": 10})
    before = {s.path: s.split for s in scan_small(root, cache).samples if "/a/" in s.path}
    save_image(make_image(1, 1234), root / "b" / "new.png")
    after = {s.path: s.split for s in scan_small(root, cache).samples if "/a/" in s.path}
    assert before == after


def test_manifest_json_round_trip(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 3, "b": 4})
    (root / "a" / "notes.txt").write_text("x")
    manifest = scan_small(root, cache)
    text = json.dumps(manifest.to_dict())
    assert Manifest.from_dict(json.loads(text)) == manifest
    manifest.save(tmp_path / "manifest.json")
    loaded = Manifest.load(tmp_path / "manifest.json")
    assert loaded == manifest and loaded.fingerprint() == manifest.fingerprint()


def test_fingerprint_follows_content_not_location(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 3, "b": 4})
    original = scan_small(root, cache).fingerprint()
    moved = shutil.copytree(root, tmp_path / "elsewhere")
    assert scan_small(moved, cache).fingerprint() == original
    save_image(make_image(0, 777), root / "a" / "a_all_000.png")  # same name, new pixels
    assert scan_small(root, cache).fingerprint() != original
    assert scan(moved, cache=cache, image_size=SIZE + 1).fingerprint() != original


def test_load_split_arrays(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 5, "b": 5})
    manifest = scan_small(root, cache)
    images, labels = load_split_arrays(manifest, cache, "val")
    assert images.shape == (2, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and sorted(labels.tolist()) == [0, 1]
    shutil.rmtree(cache.root)  # a cleared cache is refilled from the files
    images_again, _ = load_split_arrays(manifest, cache, "val")
    assert np.array_equal(images, images_again)


def test_zip_of_wrapped_folder_is_extracted_and_scanned(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    (root / ".DS_Store").write_bytes(b"junk")
    archive = zip_folder(root, tmp_path / "pets.zip", prefix="pets")
    write_zip_entries(archive, {"__MACOSX/pets/cats/._x.png": b"junk"}, mode="a")
    manifest = scan_small(archive, cache)
    assert manifest.classes == ["cats", "dogs"] and len(manifest.samples) == 6
    assert manifest.skipped == []
    extracted = next((tmp_path / "home" / "data").glob("pets-*"))
    assert re.fullmatch(r"pets-[0-9a-f]{8}", extracted.name)
    assert not (extracted / "__MACOSX").exists() and not (extracted / "pets" / ".DS_Store").exists()
    assert scan_small(archive, cache) == manifest  # a second scan reuses the extraction
    (extracted / ".tlstudio-extracted.json").write_text("{damaged")
    assert scan_small(archive, cache) == manifest  # a damaged note of the extraction: extracted afresh


def test_zip_traversal_absolute_and_symlink_entries_are_never_written(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 2, "dogs": 2})
    archive = zip_folder(root, tmp_path / "evil.zip")
    write_zip_entries(archive, {"../evil.txt": b"x", "cats/../../evil2.txt": b"x",
                                "/abs.png": b"x", "C:/windows.png": b"x",
                                "cats/inner.zip": b"PK"},
                      symlinks={"cats/link.png": "/etc/passwd"}, mode="a")
    dest = tmp_path / "out" / "dest"
    manifest = scan_small(archive, cache, extract_dir=dest)
    reasons = {s.path: s.reason for s in manifest.skipped}
    assert reasons == {
        "../evil.txt": "points outside the dataset folder; not extracted",
        "cats/../../evil2.txt": "points outside the dataset folder; not extracted",
        "/abs.png": "absolute path; not extracted",
        "C:/windows.png": "absolute path; not extracted",
        "cats/inner.zip": "archive inside the zip; not extracted (unpack it first)",
        "cats/link.png": "symbolic link; not extracted",
    }
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil2.txt").exists()
    extracted_cats = sorted(p.name for p in (dest / "cats").iterdir())
    assert extracted_cats == ["cats_all_000.png", "cats_all_001.png"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert len(manifest.samples) == 4


def test_zip_entry_cap_refuses_and_cleans_up(tmp_path):
    archive = write_zip_entries(tmp_path / "many.zip", {f"a/{i}.txt": b"x" for i in range(12)})
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="has 12 entries, more than the 10 allowed"):
        extract_zip(archive, dest, max_entries=10)
    assert not dest.exists()
    assert extract_zip(archive, dest, max_entries=12) == []
    assert len(list((dest / "a").iterdir())) == 12


def test_zip_byte_cap_counts_written_bytes(tmp_path):
    archive = write_zip_entries(tmp_path / "bomb.zip", {"a/zeros.bin": b"\0" * 3_000_000})
    assert archive.stat().st_size < 20_000  # compresses about 1000:1
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="unpacks to 2.9 MB, more than the 1.0 MB a dataset may take"):
        extract_zip(archive, dest, max_total_bytes=1024**2)
    assert not dest.exists()


def test_zip_byte_cap_ignores_lying_headers(tmp_path):
    archive = write_zip_entries(tmp_path / "liar.zip", {"a/zeros.bin": b"\0" * 3_000_000})
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("a/zeros.bin")
    # Claim a tiny uncompressed size in the central directory; extraction must not trust it.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    assert info.file_size == 3_000_000
    skipped = extract_zip(archive, tmp_path / "dest", max_total_bytes=1024**2)
    written = sum(p.stat().st_size for p in (tmp_path / "dest").rglob("*") if p.is_file())
    assert written <= 1024**2
    assert [s.path for s in skipped] == ["a/zeros.bin"]


def test_empty_class_folder_inside_zip_is_refused_by_name(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    archive = zip_folder(root, tmp_path / "pets.zip")
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr(zipfile.ZipInfo("birds/"), b"")
    with pytest.raises(DataError, match="Class 'birds' has only 0 usable images"):
        scan_small(archive, cache)


def test_zip_of_split_layout_keeps_the_split(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 0, "b": 0}, split={"train": 3, "val": 2})
    manifest = scan_small(zip_folder(root, tmp_path / "split.zip"), cache)
    assert manifest.split_given
    assert manifest.counts() == {"a": {"train": 3, "val": 2}, "b": {"train": 3, "val": 2}}


def test_links_to_files_outside_the_folder_are_skipped(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"a": 2, "b": 2})
    outside = save_image(make_image(0, 50), tmp_path / "private.png")
    (root / "a" / "link.png").symlink_to(outside)
    (root / "b" / "inside.png").symlink_to(root / "b" / "b_all_000.png")
    manifest = scan_small(root, cache)
    assert [(s.path, s.reason) for s in manifest.skipped] == [
        ("a/link.png", "a link to a file outside the dataset folder")]
    assert len(manifest.samples) == 5


def test_failed_extraction_keeps_what_was_already_in_dest(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    archive = write_zip_entries(tmp_path / "bomb.zip", {"a/1.bin": b"\0" * 600_000,
                                                        "a/2.bin": b"\0" * 600_000})
    with pytest.raises(DataError):
        extract_zip(archive, dest, max_total_bytes=1_000_000)
    assert [p.name for p in dest.rglob("*") if p.is_file()] == ["mine.txt"]

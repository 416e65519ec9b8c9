"""Files a hostile or unlucky person hands the studio: nothing runs, nothing hangs, every refusal is in words."""
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from imagegen import make_image, make_image_folder, save_image
from tlcore.data.archive import extract_zip
from tlcore.models.backbones import get_spec
from tlcore.models.weights import create_backbone
from tlcore.data.scan import scan
from tlcore.data.picture_file import FORMAT_NAMES, ImageProblem, load_rgb
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError, Skipped
from tlcore.data.names import shown
from tlcore.models.weights import load_into_backbone, load_weights_file, max_weights_file_bytes

ROOT = Path(__file__).resolve().parent.parent


def eps_bytes() -> bytes:
    """A real EPS picture: opening it with Pillow's EPS plugin hands it to Ghostscript."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "EPS")
    return buffer.getvalue()


@pytest.fixture
def fake_ghostscript(tmp_path, monkeypatch):
    """A `gs` first on PATH that leaves a mark when anything runs it; yields the mark's path."""
    bin_dir, mark = tmp_path / "bin", tmp_path / "gs-was-run"
    bin_dir.mkdir()
    script = bin_dir / "gs"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {mark}\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return mark


def scan_small(root, cache, **settings):
    return scan(root, cache=cache, image_size=32, **settings)


@pytest.fixture
def cache(tmp_path):
    return ImageCache(tmp_path / "cache")


def test_the_fake_ghostscript_is_what_pillow_would_run(tmp_path, fake_ghostscript):
    """The check below means something: Pillow left to itself does run `gs` on an EPS named .png."""
    path = tmp_path / "x.png"
    path.write_bytes(eps_bytes())
    with pytest.raises(Exception):
        with Image.open(path) as image:
            image.load()
    assert fake_ghostscript.exists()


def test_eps_content_is_skipped_and_ghostscript_never_runs(tmp_path, cache, fake_ghostscript):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    (root / "cats" / "x.png").write_bytes(eps_bytes())
    (root / "dogs" / "y.eps.jpg").write_bytes(eps_bytes())
    manifest = scan_small(root, cache)
    assert len(manifest.samples) == 6
    reasons = {s.path: s.reason for s in manifest.skipped}
    assert reasons["cats/x.png"].startswith("not a picture in a format the studio reads")
    assert reasons["dogs/y.eps.jpg"].startswith("not a picture in a format the studio reads")
    with pytest.raises(ImageProblem):
        load_rgb(io.BytesIO(eps_bytes()))  # an upload on the Predict page
    assert not fake_ghostscript.exists()


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PCX", "SGI"])
def test_formats_outside_the_list_are_refused_by_name(tmp_path, fmt):
    buffer = io.BytesIO()
    make_image(0, 1, (16, 16)).save(buffer, fmt)
    path = tmp_path / "picture.png"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ImageProblem, match=re.escape(FORMAT_NAMES)):
        load_rgb(path)


def test_any_decoder_failure_costs_one_file_not_the_scan(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    good = (root / "cats").iterdir().__next__().read_bytes()
    (root / "cats" / "garbled.png").write_bytes(good[:40] + os.urandom(200) + good[240:])
    tiff = io.BytesIO()
    make_image(1, 1, (16, 16)).save(tiff, "TIFF")
    (root / "dogs" / "cut.tif").write_bytes(tiff.getvalue()[:60])
    manifest = scan_small(root, cache)
    assert len(manifest.samples) == 6
    assert {s.path for s in manifest.skipped} == {"cats/garbled.png", "dogs/cut.tif"}


@pytest.mark.timeout(60)
def test_a_named_pipe_called_png_is_skipped_not_waited_for(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3})
    os.mkfifo(root / "cats" / "x.png")
    manifest = scan_small(root, cache)  # before the fix, this never returned
    assert len(manifest.samples) == 6
    assert manifest.skipped == [Skipped("cats/x.png", "not a regular file (a named pipe)")]
    with pytest.raises(ImageProblem, match="named pipe"):
        load_rgb(root / "cats" / "x.png")


@pytest.mark.parametrize("names", [("Cat", "cat"), ("cat", " cat"), ("Dog ", "dog"), ("cat", "cat."),
                                   ("cat", "cat\u200b"), ("cat", "cat\u202e"), ("cat dog", "cat\u00a0dog")])
def test_look_alike_class_folders_are_refused_in_words(tmp_path, cache, names):
    root = make_image_folder(tmp_path / "ds", {names[0]: 3, names[1]: 3, "bird": 3})
    with pytest.raises(DataError, match="differ only by capital letters") as caught:
        scan_small(root, cache)
    # each named as it is, an invisible character spelled out, so the two can be told apart
    assert shown(names[0]) in str(caught.value) and shown(names[1]) in str(caught.value)


def test_a_hidden_class_folder_is_listed_with_its_reason(tmp_path, cache):
    root = make_image_folder(tmp_path / "ds", {"cats": 3, "dogs": 3, ".birds": 3})
    manifest = scan_small(root, cache)
    assert manifest.classes == ["cats", "dogs"]
    assert Skipped(".birds", "hidden (its name starts with a dot); not used") in manifest.skipped


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(),
                    reason="needs root to scan as another user (root reads every folder)")
def test_an_unreadable_class_folder_is_refused_with_the_reason():
    # Scanned as `nobody`, for whom the folder really is unreadable (root reads everything).
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        base.chmod(0o755)
        root = make_image_folder(base / "ds", {"cats": 3, "dogs": 3})
        for path in [base / "ds", *base.joinpath("ds").rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (root / "dogs").chmod(0)
        home = base / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        code = ("import json, sys; from tlcore.data.scan import scan; from tlcore.data.imagecache import ImageCache\n"
                "from tlcore.data.manifest import DataError\n"
                "try:\n    scan(sys.argv[1], cache=ImageCache(sys.argv[2]), image_size=32)\n"
                "except DataError as e:\n    print(json.dumps(str(e)))\n")
        done = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               sys.executable, "-c", code, str(root), str(home / "cache")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)
    assert "Class 'dogs' has only 0 usable images" in message
    assert "'dogs': the folder could not be read (Permission denied)" in message


@pytest.mark.slow
def test_zip_bombs_are_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        with bomb.open("cats/zeros.png", "w", force_zip64=True) as entry:
            for _ in range(256):  # 256 MiB of zeros, about 250 KB zipped
                entry.write(bytes(1024**2))
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="times its size; pictures do not shrink like that"):
        extract_zip(archive, dest)
    assert not dest.exists()
    with pytest.raises(DataError, match="more than the 100.0 MB a dataset may take"):
        extract_zip(archive, dest, max_total_bytes=100 * 1024**2, max_ratio=10_000)
    assert not dest.exists()


def test_an_uploaded_zip_bomb_leaves_nothing_on_disk(tmp_path):
    from tlcore.data.uploads import save_zip_upload

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        with bomb.open("cats/zeros.png", "w", force_zip64=True) as entry:
            for _ in range(128):
                entry.write(bytes(1024**2))
    buffer.name, buffer.size = "holiday.zip", len(buffer.getvalue())
    with pytest.raises(DataError, match="'holiday.zip' unpacks to 128.0 MB from"):
        save_zip_upload(buffer, tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


def test_the_dataset_limit_is_settable(tmp_path, monkeypatch):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as photos:
        photos.writestr("cats/a.png", os.urandom(3 * 1024**2))
    monkeypatch.setenv("TLSTUDIO_MAX_DATASET_MB", "2")
    with pytest.raises(DataError, match="more than the 2.0 MB a dataset may take .set TLSTUDIO_MAX_DATASET_MB"):
        extract_zip(archive, tmp_path / "dest")
    monkeypatch.setenv("TLSTUDIO_MAX_DATASET_MB", "4")
    extract_zip(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "cats" / "a.png").stat().st_size == 3 * 1024**2


@pytest.mark.slow
def test_a_huge_weights_file_is_refused_before_it_is_read(tmp_path):
    padded = tmp_path / "padded.pth"
    with open(padded, "wb") as file:  # sparse: 3 GB that cost no disk
        file.truncate(3 * 1024**3)
    limit = max_weights_file_bytes(get_spec("mobilenet_v2"))
    assert limit < 3 * 1024**3
    code = ("import resource, sys\nfrom tlcore.models.weights import create_backbone\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
            "try:\n    create_backbone('mobilenet_v2', weights_file=sys.argv[1])\n"
            "except ValueError as e:\n    print(e)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - before)\n")
    done = subprocess.run([sys.executable, "-c", code, str(padded)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    message, grown_mb = done.stdout.strip().splitlines()[-2:]
    assert "padded.pth is 3,072 MB, more than the" in message and "not a weights file for it" in message
    assert int(grown_mb) < 256  # the peak barely moved past importing torch: the file was never read


def test_weights_with_nan_are_named_as_damaged_not_blamed_on_the_learning_rate(tmp_path):
    state = create_backbone("mobilenet_v2", pretrained=False).body.state_dict()
    state["features.0.0.weight"][0, 0, 0, 0] = float("nan")
    state["features.1.conv.1.weight"][0] = float("inf")
    path = tmp_path / "diverged.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match="not finite .NaN or infinity. in 2 tensors") as caught:
        load_into_backbone(create_backbone("mobilenet_v2", pretrained=False), load_weights_file(path),
                           origin=path.name)
    assert "learning rate" not in str(caught.value)


def test_a_named_pipe_is_no_weights_file(tmp_path):
    os.mkfifo(tmp_path / "weights.pth")
    with pytest.raises(ValueError, match="is not a regular file"):
        load_weights_file(tmp_path / "weights.pth")


@pytest.mark.slow
def test_predict_refuses_a_negative_top_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tlcore", "predict", str(tmp_path), "x.png", "--top", "-5"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "argument --top: -5 is not a number of at least 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_links_to_pictures_are_followed_and_a_folder_named_png_is_refused(tmp_path):
    """The regular-file check follows links to regular files and refuses links to anything else."""
    target = save_image(make_image(0, 1), tmp_path / "real.png")
    (tmp_path / "link.png").symlink_to(target)
    load_rgb(tmp_path / "link.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageProblem, match="a folder"):
        load_rgb(tmp_path / "dir.png")
    assert stat.S_ISREG(os.stat(tmp_path / "link.png").st_mode)


@pytest.mark.slow
def test_a_damaged_export_zip_is_refused_in_one_line(tmp_path):
    damaged = tmp_path / "model.zip"
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("labels.json", "[]")
    damaged.write_bytes(damaged.read_bytes()[:-30])  # cut short: the zip's directory is gone
    picture = save_image(make_image(0, 1), tmp_path / "x.png")
    done = subprocess.run([sys.executable, "-m", "tlcore", "predict", str(damaged), str(picture)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_stall_limit_that_is_no_number_falls_back_to_the_stages_own(monkeypatch):
    from tlcore.runs.supervision.watchdog import STALL_LIMITS_S, stall_limit_s

    for bad in ("5min", "0", "-3"):
        monkeypatch.setenv("TLSTUDIO_STALL_LIMIT_S", bad)
        assert stall_limit_s("scanning") == STALL_LIMITS_S["scanning"]
    monkeypatch.setenv("TLSTUDIO_STALL_LIMIT_S", "2.5")
    assert stall_limit_s("scanning") == 2.5

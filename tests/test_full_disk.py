"""A full disk: refused early with the space needed, or failed in words, never "running" for good.

A small tmpfs is a real disk that fills up. Mounting one needs root, which CI has; elsewhere
these tests are skipped.
"""
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from imagegen import image_bytes, make_image, make_image_folder
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
from tlcore.data.uploads import save_zip_upload
from tlcore.errors import describe_os_error
from tlcore.jsonio import write_json_atomic
from tlcore import paths
from tlcore.diskspace import free_bytes
from tlcore.runs.supervision.runner import Runner
from tlcore.runs import RunFolder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of the asked size in MB at a fresh folder; unmounted afterwards."""
    mounted = []

    def mount(size_mb: int, inodes: int | None = None) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        options = f"size={size_mb}M" + (f",nr_inodes={inodes}" if inodes else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small disk here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a file that takes every free byte of the disk."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as file:  # unbuffered: nothing is left to fail at close
        for chunk in (1024**2, 4096, 1):
            try:
                while True:
                    file.write(bytes(chunk))
            except OSError:
                pass
    return filler


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "shapes", {"a": 6, "b": 6}, size=(40, 32))


def cli_train(dataset, home: Path, *extra) -> subprocess.CompletedProcess:
    env = dict(os.environ, TLSTUDIO_HOME=str(home), TLSTUDIO_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "tlcore", "train", str(dataset), "--epochs", "1",
                           "--image-size", "64", "--quiet", *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_a_run_the_disk_cannot_hold_is_refused_before_training(small_disk, dataset):
    home = small_disk(40)  # under the 64 MB kept free: the model's files alone cannot fit
    done = cli_train(dataset, home)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert result["error"].startswith(f"The disk is full ({home}")
    assert "need about" in result["error"] and "MB is free" in result["error"]
    run_dir = Path(result["run_dir"])
    assert RunFolder(run_dir).read_status()["state"] == "failed"
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*tmp"))


@pytest.mark.slow
def test_the_cli_on_a_disk_with_no_byte_left_says_so_in_one_line(small_disk, dataset):
    home = small_disk(8)
    paths_made = [home / "runs", home / "cache", home / "data"]
    for folder in paths_made:
        folder.mkdir()
    fill(home)
    done = cli_train(dataset, home)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: The disk is full"), done.stderr


@pytest.mark.slow
def test_a_worker_on_a_full_disk_fails_in_words_and_the_queue_goes_on(small_disk, dataset, monkeypatch):
    home = small_disk(100)
    monkeypatch.setenv("TLSTUDIO_HOME", str(home))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    runner = Runner(paths.runs_dir(), poll_s=0.2)
    from tlcore.config import RunConfig

    settings = {"data": str(dataset), "image_size": 64, "batch_size": 4, "epochs": 2}
    first = runner.submit(RunConfig(**settings, name="on a full disk"))
    filler = fill(home)
    assert free_bytes(home) < 64 * 1024
    status = runner.wait(first, timeout=120)
    assert status["state"] == "failed"
    assert status["error"].startswith("The disk is full"), status["error"]
    assert not [p for p in runner.run_dir(first).iterdir() if p.name.endswith(".tmp")]
    filler.unlink()
    second = runner.submit(RunConfig(**settings, name="after space was freed"))
    assert runner.wait(second, timeout=120)["state"] == "succeeded"


def test_status_writes_on_a_full_disk_rewrite_in_place(small_disk):
    disk = small_disk(4)
    target = disk / "status.json"
    write_json_atomic(target, {"state": "running", "pad": "x" * 500})
    fill(disk)
    write_json_atomic(target, {"state": "failed", "error": "The disk is full."})
    assert json.loads(target.read_text()) == {"state": "failed", "error": "The disk is full."}
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "status.json"]


@pytest.mark.parametrize("how", ["scanned", "uploaded"])
def test_a_zip_that_runs_out_of_file_entries_leaves_nothing_behind(small_disk, tmp_path, how):
    disk = small_disk(100, inodes=40)  # room for the bytes, not for 100 files (out of inodes)
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in (f"{cls}/{i}.png" for cls in "ab" for i in range(50)):
            zipped.writestr(name, image_bytes(make_image(len(name), 1)))
    with pytest.raises(OSError) as caught:
        if how == "scanned":
            scan(archive, cache=ImageCache(tmp_path / "cache"), image_size=32, extract_dir=disk / "unzipped")
        else:
            upload = io.BytesIO(archive.read_bytes())
            upload.name = "many.zip"
            save_zip_upload(upload, root=disk / "uploads")
    assert "full" in describe_os_error(caught.value)
    assert [path for path in disk.rglob("*") if path.is_file()] == []

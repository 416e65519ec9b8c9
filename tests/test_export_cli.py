"""Export equivalence and the command line, on a real trained run (the session's shared one)."""
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tlcore.serve.export import export_zip
from tlcore.serve.predictor import Predictor
from tlcore.data.picture_file import load_rgb, resize_center_crop
from tlcore.models.classifier import load_checkpoint

from imagegen import make_image_folder, write_text_as_image

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None, timeout=300):
    """`python -m tlcore ARGS` in a process of its own: for what only a separate process shows."""
    return subprocess.run([sys.executable, "-m", "tlcore", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def in_process(shapes_run, capsys, monkeypatch):
    """`python -m tlcore ARGS` in this process, in the shared run's studio home: torch is imported already."""
    from tlcore.__main__ import main

    monkeypatch.setenv("TLSTUDIO_HOME", str(shapes_run.home))

    def run(*args) -> Done:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code
        out = capsys.readouterr()
        return Done(code, out.out, out.err)
    return run


@pytest.fixture(scope="module")
def env(shapes_run):
    return dict(os.environ, TLSTUDIO_HOME=str(shapes_run.home))


@pytest.fixture(scope="module")
def dataset(shapes_run):
    return shapes_run.data


@pytest.fixture(scope="module")
def trained(shapes_run):
    return shapes_run.result, shapes_run.stderr


def test_train_prints_one_json_line_with_the_results(trained):
    result, stderr = trained
    assert set(result) >= {"run_id", "run_dir", "status", "best_val_acc", "final_val_acc", "epochs", "wall_s",
                           "train_images_per_s"}
    assert result["status"] == "succeeded" and result["epochs"] == 6
    assert result["best_val_acc"] >= 0.8
    assert "epoch 6/6" in stderr
    assert Path(result["run_dir"]).name == result["run_id"]


@pytest.mark.slow
def test_export_zip_holds_every_file(trained):
    formats = ("torchscript", "pt2")  # the ONNX file and the web page: tests/test_export_bundle.py
    with zipfile.ZipFile(__import__("io").BytesIO(export_zip(Path(trained[0]["run_dir"]), formats))) as archive:
        assert set(archive.namelist()) == {"model.torchscript.pt", "model.pt2", "labels.json", "answers.json",
                                           "preprocessing.json", "README.md", "predict.py"}


def test_predict_agrees_with_the_model(trained, dataset, in_process):
    run_dir = Path(trained[0]["run_dir"])
    image = next((dataset / "circles").iterdir())
    done = in_process("predict", run_dir, image)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    top = line["top"]
    assert len(top) == 3 and abs(sum(t["probability"] for t in top) - 1) < 1e-3
    predictor = Predictor(run_dir)
    array = resize_center_crop(load_rgb(image), predictor.config.image_size)
    assert predictor.predict_arrays(np.stack([array]))[0][0][0] == top[0]["label"]


def test_predict_reports_an_unreadable_image(trained, tmp_path, in_process):
    bad = write_text_as_image(tmp_path / "bad.jpg")
    done = in_process("predict", trained[0]["run_dir"], bad)
    assert done.returncode == 1
    assert "error" in json.loads(done.stdout)


@pytest.mark.parametrize("args, message", [
    (["train", "/no/such/folder"], "No such file or folder"),
    (["train", "{one_class}"], "class"),
    (["train", "{dataset}", "--epochs", "0"], "Epochs"),
    (["train", "{dataset}", "--backbone", "alexnet"], "alexnet"),
    (["predict", "/no/run", "x.png"], "No such file or folder: /no/run"),
])
def test_bad_input_exits_non_zero_with_one_clear_line(args, message, dataset, tmp_path, in_process):
    """In this process, as `python -m tlcore` runs it (a second torch import per case would cost seconds);
    the exit code and the one line of a separate process: test_files_that_cannot_be_read_or_written..."""
    one_class = make_image_folder(tmp_path / "one", {"cats": 4})
    args = [a.format(dataset=dataset, one_class=one_class) for a in args] + (["--quiet"] if args[0] == "train" else [])
    done = in_process(*args)
    code, stderr = done.returncode, done.stderr
    assert code not in (0, None)
    assert "Traceback" not in stderr
    error_lines = [l for l in stderr.splitlines() if l.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0], stderr


def test_backbones_lists_the_catalog_with_availability(in_process, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    done = in_process("backbones")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert {"mobilenet_v2", "resnet18", "efficientnet_lite0", "vit_b_16", "convnext_tiny"} <= set(rows)
    assert "available" in rows["mobilenet_v2"]


def test_predict_prints_one_line_per_image_in_order(trained, dataset, in_process):
    images = [next((dataset / name).iterdir()) for name in ("circles", "squares", "crosses")]
    done = in_process("predict", trained[0]["run_dir"], *images, "--top", 2)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["image"] for line in lines] == [str(image) for image in images]
    assert all(len(line["top"]) == 2 for line in lines)


def test_train_with_an_mlp_head_into_another_runs_folder(dataset, tmp_path, in_process):
    done = in_process("train", dataset, "--epochs", 3, "--image-size", 64, "--head", "mlp", "--quiet",
                      "--runs-dir", tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert Path(result["run_dir"]).parent == tmp_path / "elsewhere" and result["status"] == "succeeded"
    model, config, *_ = load_checkpoint(Path(result["run_dir"]) / "model_best.pt")
    assert config.head == "mlp" and isinstance(model.head, torch.nn.Sequential)


@pytest.mark.slow
def test_files_that_cannot_be_read_or_written_are_one_clear_line(trained, dataset, tmp_path, env):
    done = cli("train", dataset, "--weights-file", tmp_path / "missing.pth", "--quiet", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "missing.pth" in json.loads(done.stdout)["error"]

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    done = cli("export", trained[0]["run_dir"], "--out", a_file / "export", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_damaged_model_file_is_reported_not_crashed_on(trained, tmp_path, in_process):
    run_dir = tmp_path / "damaged-run"
    run_dir.mkdir()
    (run_dir / "model_best.pt").write_bytes(Path(trained[0]["run_dir"], "model_best.pt").read_bytes()[:5000])
    done = in_process("predict", run_dir, tmp_path / "x.png")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not a usable model file" in done.stderr

"""The export a person takes away: README, standalone predict.py, web page, and predicting from the zip.

The session's shared run (tests/conftest.py) is exported once (all formats) for the module; the zip is extracted and
used as the person who downloaded it would: predict.py and the README's Python in subprocesses,
``python -m tlcore predict`` on the zip. The web page itself is opened in Chromium by
tests/browser/test_6_export_web.py.
"""
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from tlcore.models.answering import AnsweringModel, Answers
from tlcore.models.classifier import load_checkpoint
from tlcore.serve import webvendor
from tlcore.serve.export import export_run, export_zip
from tlcore.serve.predictor import Predictor
from tlcore.serve.webvendor import VendorUnavailable, fetch_web_runtime, find_web_runtime

from imagegen import write_text_as_image

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # exports every format of a real run, and runs what it exported in new processes

WEB_FILES = {"web/index.html", "web/model.js", "web/ort.wasm.min.js", "web/ort-wasm-simd-threaded.wasm.js",
             "web/ort-wasm-simd-threaded.mjs.js"}


def run_python(*args, cwd, env=None, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def web_runtime_or_skip():
    """The fetched onnxruntime-web; a skip where npm could not fetch it, a failure in CI."""
    try:
        return find_web_runtime()
    except VendorUnavailable as problem:
        if os.environ.get("TLSTUDIO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"onnxruntime-web is required here: {problem}", pytrace=False)
        pytest.skip(str(problem))


@pytest.fixture(scope="module")
def env(shapes_run):
    return dict(os.environ, TLSTUDIO_HOME=str(shapes_run.home))


@pytest.fixture(scope="module")
def dataset(shapes_run):
    return shapes_run.data


@pytest.fixture(scope="module")
def run_dir(shapes_run):
    return shapes_run.run_dir


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    """The zip of every format, its progress calls, and the folder it was extracted to."""
    web_runtime_or_skip()
    calls = []
    data = export_zip(run_dir, on_progress=lambda *call: calls.append(call), title="Shapes for class 5B")
    zip_path = tmp_path_factory.mktemp("download") / "model.zip"
    zip_path.write_bytes(data)
    folder = zip_path.parent / "unzipped"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    return {"zip": zip_path, "folder": folder, "calls": calls}


@pytest.fixture(scope="module")
def pictures(dataset):
    return [next(iter(sorted((dataset / name).iterdir()))) for name in ("circles", "squares", "crosses")]


@pytest.fixture(scope="module")
def studio_answers(run_dir, pictures):
    predictor = Predictor(run_dir)
    return [predictor.predict_file(picture)["top"] for picture in pictures]


def test_progress_names_each_step_as_it_starts(exported):
    assert exported["calls"] == [(1, 5, "TorchScript"), (2, 5, "torch.export (.pt2)"), (3, 5, "ONNX"),
                                 (4, 5, "README, predict.py and the web page"), (5, 5, "Packing the zip")]


def test_exported_models_match_the_trained_model(exported, run_dir):
    """Every format of the zip computes the trained model's scaled logits and familiarity, preprocessing
    included, with the run's temperature and threshold written beside them and in the ONNX file."""
    folder = exported["folder"]
    model, config, labels, meta = load_checkpoint(run_dir / "model_best.pt")
    answers = Answers.from_meta(meta["answers"])
    assert answers.knows_familiarity and answers.temperature != 1.0
    spec = model.backbone.spec
    x = torch.rand(3, 3, config.image_size, config.image_size)
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = AnsweringModel(model, answers)((x - mean) / std)
        scripted = torch.jit.load(str(folder / "model.torchscript.pt"))(x)
        program = torch.export.load(folder / "model.pt2").module()(x)
        assert torch.allclose(expected[0] * answers.temperature, model((x - mean) / std), atol=1e-4)
    import onnx
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = [torch.from_numpy(o) for o in session.run(None, {session.get_inputs()[0].name: x.numpy()})]
    for out in (scripted, program, onnx_out):
        for mine, theirs in zip(out, expected, strict=True):
            assert torch.allclose(mine, theirs, atol=1e-4), (mine - theirs).abs().max()
    assert json.loads((folder / "labels.json").read_text()) == labels
    assert json.loads((folder / "preprocessing.json").read_text())["image_size"] == config.image_size
    settings = json.loads((folder / "answers.json").read_text())
    assert settings["temperature"] == round(answers.temperature, 4)
    assert settings["familiar_threshold"] == answers.familiar_threshold
    properties = {p.key: p.value for p in onnx.load(str(folder / "model.onnx")).metadata_props}
    assert json.loads(properties["labels"]) == labels
    assert float(properties["familiar_threshold"]) == answers.familiar_threshold


def test_zip_holds_instructions_a_script_and_the_web_page(exported):
    with zipfile.ZipFile(exported["zip"]) as archive:
        assert set(archive.namelist()) == {"model.torchscript.pt", "model.pt2", "model.onnx", "labels.json",
                                           "preprocessing.json", "answers.json", "README.md", "predict.py",
                                           *WEB_FILES}
    page = (exported["folder"] / "web" / "index.html").read_text()
    config = json.loads(re.search(r'<script id="studio-config" type="application/json">(.*?)</script>', page).group(1))
    assert config["labels"] == ["circles", "crosses", "squares"] and config["image_size"] == 64
    assert config["title"] == "Shapes for class 5B" and config["ort_version"] == webvendor.VERSION


def test_readme_says_what_a_person_needs(exported):
    readme = (exported["folder"] / "README.md").read_text()
    assert readme.startswith("# Shapes for class 5B")
    assert "`circles`, `crosses`, `squares`" in readme
    assert "shorter side is 64 pixels" in readme and "centre square of 64 x 64" in readme
    assert "values from 0 to 1" in readme and "the model does that inside" in readme
    assert "apply softmax" in readme and "logits" in readme
    assert "open `web/index.html`" in readme and "missing" not in readme
    for name in ("model.onnx", "model.torchscript.pt", "model.pt2", "predict.py", "labels.json", "web/model.js"):
        assert f"| `{name}` |" in readme, name


def test_predict_script_agrees_with_the_studio(exported, pictures, studio_answers, tmp_path):
    """Run from another folder, as `python path/to/predict.py`, with each model file."""
    script = exported["folder"] / "predict.py"
    for model in ("model.onnx", "model.torchscript.pt", "model.pt2"):
        done = run_python(script, *pictures, "--json", "--model", exported["folder"] / model, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [line["image"] for line in lines] == [str(p) for p in pictures]
        for line, studio in zip(lines, studio_answers):
            assert line["label"] == studio[0]["label"] and line["sure"] is True, (model, line, studio)
            for mine, theirs in zip(line["top"], studio):
                assert mine["label"] == theirs["label"]
                assert abs(mine["probability"] - theirs["probability"]) < 1e-3, (model, mine, theirs)


def test_predict_script_says_not_sure_and_reports_bad_pictures(exported, pictures, tmp_path):
    bad = write_text_as_image(tmp_path / "bad.jpg")
    done = run_python(exported["folder"] / "predict.py", pictures[0], bad, "--min-confidence", "1", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith(f"{pictures[0]}: not sure (best guess ")
    assert second.startswith(f"{bad}: cannot be read")


def test_the_readme_python_runs_and_names_the_same_class(exported, pictures, studio_answers):
    readme = (exported["folder"] / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(snippets) == 3  # ONNX, TorchScript, .pt2
    for snippet in snippets:
        assert len(snippet.strip().splitlines()) <= 7
        done = run_python("-c", snippet.replace("photo.jpg", str(pictures[1])), cwd=exported["folder"])
        assert done.returncode == 0, done.stderr
        label, probability, _, familiar = done.stdout.split()
        assert label == studio_answers[1][0]["label"] and 0 <= float(familiar) <= 1
        assert abs(float(probability) - studio_answers[1][0]["probability"]) < 1e-3


def cli_in_process(capsys, *args) -> tuple[int, list[dict] | None, str]:
    """`python -m tlcore ARGS` in this process (no second torch import): exit code, JSON lines, stderr."""
    from tlcore.__main__ import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_cli_predicts_from_the_zip_and_the_export_folder(exported, run_dir, pictures, capsys):
    answers = []
    for source in (run_dir, exported["folder"], exported["zip"]):
        code, lines, err = cli_in_process(capsys, "predict", source, *pictures, "--min-confidence", "60%")
        assert code == 0, err
        answers.append(lines)
    for line_run, line_folder, line_zip in zip(*answers):
        assert line_run["top"][0]["label"] == line_folder["top"][0]["label"] == line_zip["top"][0]["label"]
        for line in (line_folder, line_zip):
            assert abs(line["top"][0]["probability"] - line_run["top"][0]["probability"]) < 1e-3
            assert line["sure"] == (line["top"][0]["probability"] >= 0.6)
            assert line["label"] == (line["top"][0]["label"] if line["sure"] else None)


def test_cli_predicts_from_the_zip_in_a_fresh_process(exported, pictures, studio_answers, env):
    done = run_python("-m", "tlcore", "predict", exported["zip"], pictures[2], cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["label"] == studio_answers[2][0]["label"] and line["sure"] is True


def test_cli_min_confidence_marks_unsure_answers(run_dir, pictures, capsys):
    code, lines, _ = cli_in_process(capsys, "predict", run_dir, pictures[0], "--min-confidence", "1")
    assert code == 0 and lines[0]["label"] is None and lines[0]["sure"] is False and len(lines[0]["top"]) == 3
    with pytest.raises(SystemExit) as exit_info:
        cli_in_process(capsys, "predict", run_dir, pictures[0], "--min-confidence", "1.5")
    assert exit_info.value.code == 2 and "not a confidence from 0 to 1" in capsys.readouterr().err


def test_cli_refuses_what_is_not_a_model_in_one_line(run_dir, tmp_path, capsys, env):
    not_an_export = tmp_path / "photos.zip"
    with zipfile.ZipFile(not_an_export, "w") as archive:
        archive.writestr("cat.jpg", b"not really")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    unfinished = tmp_path / "unfinished-run"
    unfinished.mkdir()
    for name in ("config.json", "status.json"):
        (unfinished / name).write_text("{}")
    cases = {not_an_export: "is a zip but not a studio export", text_file: "is not a run folder, an export folder "
             "or an export zip", unfinished: "no trained model (model_best.pt) yet", tmp_path: "is not a run folder "
             "or an export folder", tmp_path / "gone": "No such file or folder"}
    for source, message in cases.items():
        code, _, err = cli_in_process(capsys, "predict", source, "x.png")
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    done = run_python("-m", "tlcore", "predict", not_an_export, "x.png", cwd=ROOT, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {not_an_export} is a zip but not a studio export: it lacks " \
                                  "labels.json, preprocessing.json"


def test_without_onnxruntime_web_the_readme_says_why(run_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(webvendor.VENDOR_ENV, str(tmp_path / "empty-vendor"))
    written = export_run(run_dir, tmp_path / "export", formats=("onnx",))
    assert not any(key.startswith("web/") for key in written)
    readme = written["readme"].read_text()
    assert "**The web page is missing from this export:** onnxruntime-web 1.30.0 has not been fetched" in readme
    assert "| `model.onnx` |" in readme and "model.torchscript.pt" not in readme


def test_without_onnx_the_readme_says_the_web_page_needs_it(run_dir, tmp_path):
    written = export_run(run_dir, tmp_path / "export", formats=("torchscript",))
    readme = written["readme"].read_text()
    assert "ONNX was not among the chosen formats" in readme and "```python" in readme
    assert "model.onnx" not in readme.split("## Load it in Python")[1]


# -- fetching onnxruntime-web --------------------------------------------------------------------

def fake_npm(folder: Path, body: str) -> str:
    """An executable standing in for npm."""
    script = folder / "npm"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_fetch_without_npm_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on it
    with pytest.raises(VendorUnavailable, match="npm is not installed"):
        fetch_web_runtime(tmp_path / "vendor")
    done = run_python("-m", "tlcore", "vendor", "fetch", cwd=ROOT,
                      env=dict(os.environ, PATH=str(tmp_path), TLSTUDIO_VENDOR_DIR=str(tmp_path / "vendor")))
    assert done.returncode == 1 and "warning: npm is not installed" in done.stderr and "Traceback" not in done.stderr


def test_fetch_reports_what_npm_said(tmp_path):
    npm = fake_npm(tmp_path, 'echo "npm error code ENOTFOUND" >&2\nexit 1\n')
    with pytest.raises(VendorUnavailable, match="npm could not fetch onnxruntime-web 1.30.0 .npm error code ENOTFOUND"):
        fetch_web_runtime(tmp_path / "vendor", npm=npm)


def test_fetch_refuses_a_tarball_that_does_not_match_the_pin(tmp_path):
    # An npm that "packs" a tarball with the right name and the wrong bytes.
    npm = fake_npm(tmp_path, 'for last; do :; done\necho forged > "$last/onnxruntime-web-1.30.0.tgz"\n')
    with pytest.raises(VendorUnavailable, match="does not match its pinned checksum"):
        fetch_web_runtime(tmp_path / "vendor", npm=npm)
    assert [p.name for p in (tmp_path / "vendor").iterdir()] == []  # nothing half made is left


def test_fetch_is_quick_once_fetched_and_notices_an_altered_copy(tmp_path):
    runtime = web_runtime_or_skip()
    copy = tmp_path / "vendor" / runtime.folder.name
    copy.parent.mkdir()
    import shutil

    shutil.copytree(runtime.folder, copy)
    assert fetch_web_runtime(copy.parent, npm="/no/npm/needed").folder == copy
    with open(copy / "ort.wasm.min.js", "ab") as file:
        file.write(b"\n// changed")
    with pytest.raises(VendorUnavailable, match="incomplete or altered"):
        find_web_runtime(copy.parent)


@pytest.mark.skipif(not __import__("shutil").which("npm"), reason="npm is not installed")
def test_fetch_with_npm_checks_and_extracts_only_the_pinned_files(tmp_path):
    runtime = fetch_web_runtime(tmp_path / "vendor")
    assert sorted(p.name for p in runtime.folder.iterdir()) == sorted(webvendor.FILES)
    assert sorted(p.name for p in (tmp_path / "vendor").iterdir()) == [runtime.folder.name]

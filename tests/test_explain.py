"""Grad-CAM: every backbone names a layer to explain, every strategy's model can be explained, and the CLI."""
import json

import numpy as np
import pytest
from PIL import Image

from cli_support import home, train  # noqa: F401 (a fixture)
from imagegen import make_image, make_image_folder
from tlcore import runs
from tlcore.__main__ import main as cli
from tlcore.config import RunConfig
from tlcore.models.backbones import get_spec, list_backbones
from tlcore.models.classifier import create_classifier
from tlcore.serve.explain import Explainer


@pytest.mark.slow
@pytest.mark.parametrize("name", [spec.name for spec in list_backbones()])
def test_every_backbone_names_a_layer_that_grad_cam_can_explain(name):
    size = get_spec(name).fixed_image_size or 64
    model = create_classifier(RunConfig(data="x", backbone=name, image_size=size), 3, pretrained=False)
    explainer = Explainer(model, ["a", "b", "c"], size)
    explanation = explainer.explain(make_image(1, 0, (size, size)), "b")
    assert explanation.heat.shape == (size, size) and explanation.overlay.shape == (size, size, 3)
    assert np.isfinite(explanation.heat).all() and 0 <= explanation.heat.min() <= explanation.heat.max() <= 1
    assert explanation.label == "b" and 0 <= explanation.probability <= 1


def test_a_model_started_from_a_run_is_explained_and_each_class_has_its_own_map(home, tmp_path):
    from tlcore.runs.execution.worker import execute_run

    data = make_image_folder(tmp_path / "shapes", {"circles": 8, "squares": 8}, size=(64, 64))
    source = runs.create_run(RunConfig(data=str(data), strategy="scratch", epochs=1, image_size=64, batch_size=8))
    assert execute_run(source)["state"] == "succeeded"
    run_dir = runs.create_run(RunConfig(data=str(data), strategy="fine_tune", epochs=1, head_epochs=1, image_size=64,
                                        batch_size=8, init_from=str(source)))
    assert execute_run(run_dir)["state"] == "succeeded"
    explainer = Explainer.from_run(run_dir)
    picture = Image.open(next((data / "circles").iterdir()))
    circles, squares = explainer.explain(picture, "circles"), explainer.explain(picture, "squares")
    assert not np.allclose(circles.heat, squares.heat)  # the map answers "why this class", not "what is bright"
    assert circles.probability + squares.probability == pytest.approx(1, abs=1e-3)


def test_the_cli_writes_the_picture_beside_its_heat_map(home, tmp_path, capsys):
    data = make_image_folder(tmp_path / "colours", {"reds": 6, "blues": 6}, size=(40, 40))
    code, result, err = train(capsys, data, "--epochs", 2)
    assert code == 0, err
    picture = next((data / "reds").iterdir())
    out = tmp_path / "overlay.png"
    assert cli(["explain", result["run_dir"], str(picture), "--out", str(out), "--class", "blues"]) == 0
    said = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert said["class"] == "blues" and said["out"] == str(out)
    assert Image.open(out).size == (64, 32)  # the 32 px picture and its heat map, side by side

    assert cli(["explain", result["run_dir"], str(picture), "--out", str(out), "--class", "zebras"]) == 2
    assert "knows no class 'zebras'" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_best.pt").write_bytes(b"not a model")
    assert cli(["explain", str(tmp_path / "broken"), str(picture), "--out", str(out)]) == 2
    assert "is not a usable model file" in capsys.readouterr().err
    assert cli(["explain", str(tmp_path), str(picture), "--out", str(out)]) == 2
    assert "holds no trained model" in capsys.readouterr().err

"""The prototypes head: class means of normalised features, fitted by the loop, exported like any head."""
import pytest
import torch
import torch.nn.functional as F

from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.data.batches import ArrayBatches, to_model_input
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import Manifest
from tlcore.data.decoding import load_split_arrays
from tlcore.models.classifier import load_checkpoint
from tlcore.models.heads import create_head
from tlcore.runs.execution.worker import execute_run
from tlcore.serve.export import export_run
from tlcore.serve.exported import open_predictor
from tlcore.serve.predictor import Predictor
from tlcore.training.loop import PhaseData, fit
from tlcore.training.phases import Phase

CLASSES = {"red_circles": 6, "blue_squares": 6, "green_triangles": 6}


def test_prototypes_are_the_class_means_of_normalised_features():
    torch.manual_seed(0)
    features, labels = torch.randn(30, 8) * 3, torch.arange(30) % 3
    head = create_head("prototypes", 8, 3)
    head.fit_to(features, labels)
    normalised = F.normalize(features, dim=1)
    for c in range(3):
        assert torch.allclose(head.prototypes[c], normalised[labels == c].mean(0), atol=1e-6)


def test_a_separable_toy_set_is_classified_perfectly_after_the_loop_fits_the_head():
    torch.manual_seed(1)
    centres = torch.randn(4, 16) * 5
    labels = torch.arange(80) % 4
    features = centres[labels] + 0.3 * torch.randn(80, 16)
    head = create_head("prototypes", 16, 4)
    assert head.prototypes.abs().sum() == 0  # nothing until the loop fits it
    train = ArrayBatches(features[:60], labels[:60], 8, True, torch.Generator().manual_seed(0))
    val = ArrayBatches(features[60:], labels[60:], 32, False)
    phase = Phase("head", 2, "embeddings", torch.nn.Identity(), head,
                  [{"params": list(head.parameters()), "lr": 1e-2}], train_modules=[head])
    result = fit(torch.nn.Sequential(head), [phase], lambda _: PhaseData(train, val, lambda x, _: x),
                 device=torch.device("cpu"), num_classes=4)
    assert result.best_val_acc == 1.0
    assert (head(features).argmax(1) == labels).all()


@pytest.fixture(scope="module")
def prototype_run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TLSTUDIO_HOME", str(tmp_path_factory.mktemp("home")))
        data = make_image_folder(tmp_path_factory.mktemp("data") / "shapes", CLASSES, size=(40, 40))
        run_dir = runs.create_run(RunConfig(data=str(data), head="prototypes", epochs=2, image_size=32))
        status = execute_run(run_dir)
        assert status["state"] == "succeeded", status.get("error")
        yield run_dir, data


def test_a_prototypes_run_keeps_the_class_means_of_its_training_pictures(prototype_run):
    run_dir, _ = prototype_run
    model, config, labels, _ = load_checkpoint(run_dir / "model_best.pt")
    assert labels == sorted(CLASSES)
    manifest = Manifest.load(run_dir / "manifest.json")  # the pictures as trained on, split included
    images, y = load_split_arrays(manifest, ImageCache(paths.cache_dir()), "train")
    spec = model.backbone.spec
    with torch.no_grad():
        features = F.normalize(model.backbone(to_model_input(torch.from_numpy(images), spec.mean, spec.std,
                                                             torch.device("cpu"))), dim=1)
    y = torch.as_tensor(y)
    for c in range(len(labels)):
        assert torch.allclose(model.head.prototypes[c], features[y == c].mean(0), atol=1e-3)


@pytest.mark.slow
def test_a_prototypes_run_predicts_and_exports_like_any_other(prototype_run, tmp_path):
    run_dir, data = prototype_run
    picture = next((data / "blue_squares").iterdir())
    direct = Predictor(run_dir).predict_file(picture, 3)["top"]
    written = export_run(run_dir, tmp_path / "export", formats=("torchscript", "onnx"))
    assert {"model.onnx", "model.torchscript.pt"} <= {path.name for path in written.values()}
    exported = open_predictor(tmp_path / "export").predict_file(picture, 3)["top"]
    assert [t["label"] for t in exported] == [t["label"] for t in direct]
    assert exported[0]["probability"] == pytest.approx(direct[0]["probability"], abs=1e-3)

"""Each run keeps the kept model's answer for every validation picture, and pages read them back."""
import json

from cli_support import home, train  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore import runs
from tlcore.runs import RunFolder
from tlcore.runs.store.predictions import in_cell, mistakes, of_class, read_predictions

CLASSES = {"reds": 10, "blues": 10, "greens": 10}


def test_the_kept_models_answers_match_its_confusion_matrix(home, tmp_path, capsys):
    data = make_image_folder(tmp_path / "colours", CLASSES, size=(40, 40))
    for strategy in ("feature_extraction", "fine_tune"):  # answers from cached features, and from pixels
        code, result, err = train(capsys, data, "--strategy", strategy, "--epochs", "2", "--head-epochs", "1")
        assert code == 0, err
        run_dir = runs.resolve_runs_dir(None) / result["run_id"]
        classes, predictions = read_predictions(run_dir)
        events = RunFolder(run_dir).read_events()[0]
        kept = [e for e in events if e["type"] == "epoch" and e["epoch"] == RunFolder(run_dir).read_status()["best_epoch"]][-1]
        matrix = [[len(in_cell(predictions, i, j)) for j in range(len(classes))] for i in range(len(classes))]
        assert matrix == kept["confusion"] and classes == sorted(CLASSES)
        assert sum(p.right for p in predictions) / len(predictions) == result["best_val_acc"]
        assert all(abs(sum(p.probabilities) - 1) < 1e-3 and (data / classes[p.true]) in
                   __import__("pathlib").Path(p.path).parents for p in predictions)

    wrong = mistakes(predictions)
    assert all(not p.right for p in wrong) and [p.confidence for p in wrong] == sorted(
        (p.confidence for p in wrong), reverse=True)
    reds = of_class(predictions, 1)
    assert {p.true for p in reds} == {1} and [p.right for p in reds] == sorted(p.right for p in reds)


def test_damaged_or_missing_answers_read_as_none(tmp_path):
    assert read_predictions(tmp_path) is None
    (tmp_path / RunFolder.PREDICTIONS).write_text(json.dumps({"classes": ["a", "b"], "pictures": [
        {"path": "x.png", "key": "k", "true": 5, "probabilities": [0.5, 0.5]}]}))
    assert read_predictions(tmp_path) is None  # a class that does not exist
    (tmp_path / RunFolder.PREDICTIONS).write_text("{ cut short")
    assert read_predictions(tmp_path) is None

"""Labels that look wrong: the check finds flipped ones; corrections are kept beside the dataset, applied
to runs, undone, and never touch the pictures."""
import hashlib
import json

import pytest

from cli_support import home  # noqa: F401 (a fixture)
from imagegen import make_image_folder
from tlcore import paths
from tlcore.__main__ import main as cli
from tlcore.config import ConfigError
from tlcore.data.imagecache import ImageCache
from tlcore.data.overrides import OVERRIDES_FILE, Overrides, load_overrides, save_overrides
from tlcore.data.scan import scan
from tlcore.serve.labels import check_labels

CLASSES = {"reds": 10, "blues": 10, "greens": 10}


@pytest.fixture
def flipped(tmp_path):
    """Colours whose classes a network tells apart easily, two pictures moved to the wrong class."""
    data = make_image_folder(tmp_path / "colours", CLASSES, size=(40, 40))
    moved = []
    for source, wrong in (("reds", "blues"), ("greens", "reds")):
        picture = sorted((data / source).iterdir())[0]
        moved.append(picture.rename(data / wrong / f"moved-{picture.name}"))
    return data, moved


def test_the_check_puts_flipped_labels_first(home, flipped):
    data, moved = flipped
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=64)
    found = check_labels(manifest)
    assert found.pictures == 30 and found.folds == 5
    top = {s.path for s in found.suspects[:3]}
    assert {str(p.resolve()) for p in moved} <= top
    first = next(s for s in found.suspects if s.path == str(moved[0].resolve()))
    assert first.given == "blues" and first.suggested == "reds" and 0 <= first.score < 0.5


def test_the_cli_prints_each_flagged_picture_then_a_summary(home, flipped, capsys):
    data, moved = flipped
    assert cli(["check-labels", str(data), "--image-size", "64"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    *flagged, summary = lines
    assert summary["pictures"] == 30 and summary["flagged"] == len(flagged) >= 2
    assert set(flagged[0]) == {"path", "given", "suggested", "score"}
    assert {str(p.resolve()) for p in moved} <= {f["path"] for f in flagged}


def test_corrections_apply_to_the_dataset_undo_and_leave_the_files_alone(home, flipped, tmp_path):
    data, moved = flipped
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.png")}
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=64)
    by_path = {s.path: s for s in manifest.samples}
    first, second = by_path[str(moved[0].resolve())], by_path[str(moved[1].resolve())]

    overrides = Overrides()
    overrides.relabel(first, "reds", manifest.classes)
    overrides.exclude(second)
    with pytest.raises(ConfigError, match="There is no class 'purples' in this dataset"):
        overrides.relabel(first, "purples", manifest.classes)
    folder = tmp_path / "record"
    folder.mkdir()
    save_overrides(folder, overrides)
    corrected = load_overrides(folder).apply(manifest)
    labels = {s.path: manifest.classes[s.label] for s in corrected.samples}
    assert labels[first.path] == "reds" and second.path not in labels and len(corrected.samples) == 29

    kept = load_overrides(folder)
    assert kept.undo()["action"] == "exclude"
    assert len(kept.apply(manifest).samples) == 30  # the picture left out is back
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.png")} == before

    (folder / OVERRIDES_FILE).write_text("{ damaged")
    assert load_overrides(folder).changes == []

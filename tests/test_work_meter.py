"""Honest progress: counted in work, only forward, rounds as the person chose them, time left once measured."""
import time
from types import SimpleNamespace

import pytest

from imagegen import make_image_folder
from tlcore import runs
from tlcore.config import RunConfig
from tlcore.runs.execution.work_meter import WorkMeter
from tlcore.runs.execution.worker import execute_run
from tlcore.runs import RunFolder
from ui.progress import progress_text, rounds_text


def phase(name, epochs, inputs, freeze_norm_stats=True):
    return SimpleNamespace(name=name, epochs=epochs, inputs=inputs, freeze_norm_stats=freeze_norm_stats)


def test_warm_up_rounds_weigh_what_they_cost_not_what_they_count():
    meter = WorkMeter(train_images=100, val_images=50)
    phases = [phase("head", 5, "embeddings"), phase("body", 3, "images")]
    meter.on_fit_start(phases, total_epochs=8)
    assert meter.eta() is None  # nothing measured yet: no guess
    meter.on_features(100, 100, "train")
    meter.on_features(50, 50, "val")
    meter.on_phase_start(phases[0], 0, steps_per_epoch=4)
    for _ in range(5):
        for _ in range(4):
            meter.on_batch_end(phases[0])
        meter.on_epoch_end(phases[0])
    after_warm_up = meter.fraction
    # Five of eight rounds are done, but they were the cheap ones: the feature pass and the warm-up
    # are about a sixth of the work; the three body rounds (forward and backward) are the rest.
    assert 0.1 < after_warm_up < 0.25
    meter.on_phase_start(phases[1], 1, steps_per_epoch=4)
    assert meter.eta() is not None  # the feature pass measured a forward pass: the body's pace follows
    fractions = []
    for _ in range(3):
        for _ in range(4):
            meter.on_batch_end(phases[1])
            fractions.append(meter.fraction)
        meter.on_epoch_end(phases[1])
    assert fractions == sorted(fractions) and fractions[0] > after_warm_up
    assert meter.fraction == pytest.approx(1.0)


def test_a_phase_that_stops_early_gives_back_its_rounds():
    meter = WorkMeter(train_images=10, val_images=10)
    phases = [phase("all", 20, "images", freeze_norm_stats=False)]
    meter.on_fit_start(phases, 20)
    meter.on_phase_start(phases[0], 0, steps_per_epoch=2)
    for _ in range(2):
        meter.on_batch_end(phases[0])
    meter.on_epoch_end(phases[0])
    assert meter.fraction == pytest.approx(1 / 20)


def test_the_time_left_is_smoothed_not_jumpy():
    meter = WorkMeter(train_images=10, val_images=0)
    phases = [phase("all", 10, "images")]
    meter.on_fit_start(phases, 10)
    meter.on_phase_start(phases[0], 0, steps_per_epoch=1)
    time.sleep(0.02)
    meter.on_batch_end(phases[0])
    meter.on_epoch_end(phases[0])
    first = meter.eta()
    time.sleep(0.2)  # one slow round: the raw estimate jumps tenfold
    meter.on_batch_end(phases[0])
    meter.on_epoch_end(phases[0])
    second = meter.eta()
    raw = sum(meter.seconds.values()) / sum(meter.done.values()) * (meter.planned["images"] - meter.done["images"])
    assert abs(second - first) < abs(raw - first)


def test_rounds_are_shown_as_chosen():
    assert rounds_text(RunConfig(data="/d", strategy="fine_tune", epochs=3, head_epochs=5)) == "warm-up 5 + 3 rounds"
    assert rounds_text(RunConfig(data="/d", strategy="feature_extraction", epochs=20)) == "20 rounds"
    status = {"stage": {"name": "training"}, "progress": {"fraction": 0.4, "eta_s": 75, "phase": "body", "phases": 2,
                                                         "round": 1, "rounds": 3, "step": 2, "steps": 5}}
    assert progress_text(status) == (0.4, "Fine-tuning the network, round 1 of 3 · step 2 of 5 · about 1 min 15 s left")


def test_a_fine_tune_run_reports_progress_that_only_moves_forward(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    data = make_image_folder(tmp_path / "shapes", {"a": 8, "b": 8}, size=(40, 32))
    run_dir = runs.create_run(RunConfig(data=str(data), strategy="fine_tune", epochs=2, head_epochs=3,
                                        image_size=64, batch_size=4, early_stop_patience=0))
    assert execute_run(run_dir)["state"] == "succeeded"
    batches = [e for e in RunFolder(run_dir).read_events()[0] if e["type"] == "batch"]
    fractions = [e["fraction"] for e in batches]
    assert fractions == sorted(fractions) and fractions[-1] > 0.9  # the last validation is still to come
    last_warm_up = [e["fraction"] for e in batches if e["phase"] == "head"][-1]
    assert last_warm_up < 0.5  # three warm-up rounds of five cost far less than two body rounds
    progress = RunFolder(run_dir).read_status()["progress"]
    assert (progress["phase"], progress["round"], progress["rounds"]) == ("body", 2, 2)
    assert progress["fraction"] == pytest.approx(1.0)

"""The loop and the strategies, run for real on generated shapes with real pretrained weights."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from tlcore import runs
from tlcore.models.weights import create_backbone
from tlcore.config import ConfigError, RunConfig
from tlcore.data.batches import ArrayBatches
from tlcore.models.classifier import load_checkpoint
from tlcore.training.phases import Phase
from tlcore.training.loop import PhaseData, StopRequested, TrainingFailed, fit
from tlcore.runs.execution.worker import execute_run
from tlcore.runs import RunFolder

from imagegen import make_image_folder


def train(shapes, home, **settings):
    config = RunConfig(**{"data": str(shapes), "image_size": 64, "batch_size": 8, **settings})
    run_dir = runs.create_run(config)
    return run_dir, execute_run(run_dir)


def epoch_events(run_dir):
    return [e for e in RunFolder(run_dir).read_events()[0] if e["type"] == "epoch"]


def test_feature_extraction_learns_and_records_everything(shapes, home):
    run_dir, status = train(shapes, home, strategy="feature_extraction", epochs=8, early_stop_patience=0)
    assert status["state"] == "succeeded", status.get("error")
    assert status["best_val_acc"] >= 0.8
    epochs = epoch_events(run_dir)
    assert [e["epoch"] for e in epochs] == list(range(1, 9))
    last = epochs[-1]
    assert np.array(last["confusion"]).shape == (3, 3)
    assert np.array(last["confusion"]).sum() == 6  # 2 validation images per class
    assert set(last["per_class"]) == {"precision", "recall", "f1", "support"}
    assert last["eta_s"] is not None and last["images_per_s"] > 0
    assert json.loads((run_dir / "labels.json").read_text()) == ["blue_squares", "green_triangles", "red_circles"]
    assert (run_dir / "manifest.json").exists() and (run_dir / "model_best.pt").exists()
    assert any(e["type"] == "batch" for e in RunFolder(run_dir).read_events()[0])


def test_feature_extraction_leaves_the_backbone_untouched(shapes, home):
    run_dir, status = train(shapes, home, strategy="feature_extraction", epochs=3)
    model, *_ = load_checkpoint(run_dir / "model_best.pt")
    pretrained = create_backbone("mobilenet_v2", pretrained=True).state_dict()
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, pretrained[name]), name  # weights and BatchNorm statistics alike


def test_embeddings_are_computed_once(shapes, home):
    train(shapes, home, strategy="feature_extraction", epochs=2)
    cached = sorted((home / "cache" / "embeddings").glob("*.npy"))
    assert len(cached) == 2  # train and val
    _, status = train(shapes, home, strategy="feature_extraction", epochs=2, lr=1e-3)
    assert sorted((home / "cache" / "embeddings").glob("*.npy")) == cached
    assert "embedding_s" not in status["timings"]  # nothing recomputed
    _, status = train(shapes, home, strategy="feature_extraction", epochs=2, image_size=72)
    assert status["timings"]["embedding_s"] > 0  # another image size is another embedding


def test_fine_tune_trains_head_then_body_with_frozen_norm_statistics(shapes, home):
    run_dir, status = train(shapes, home, strategy="fine_tune", epochs=2, head_epochs=2, unfreeze_stages=2)
    assert status["state"] == "succeeded", status.get("error")
    phases = [e["phase"] for e in epoch_events(run_dir)]
    assert phases == ["head", "head", "body", "body"]
    model, *_ = load_checkpoint(run_dir / "model_best.pt")
    pretrained = create_backbone("mobilenet_v2", pretrained=True)
    trained, original = model.backbone.state_dict(), pretrained.state_dict()
    stages = model.backbone.stages()
    last_stage = {n for n, _ in stages[-1].named_parameters()}
    first_stage_names = [n for n, _ in stages[0].named_parameters()]
    assert last_stage
    if status["best_epoch"] > 2:  # the body epochs won: the last stage moved, the first did not
        changed = [n for n in trained if "running" not in n and not torch.equal(trained[n], original[n])]
        assert changed
    stat_names = [n for n in trained if n.endswith("running_mean") or n.endswith("running_var")]
    assert stat_names and all(torch.equal(trained[n], original[n]) for n in stat_names)
    assert first_stage_names


def test_scratch_starts_from_random_weights(shapes, home):
    run_dir, status = train(shapes, home, strategy="scratch", epochs=2)
    assert status["state"] == "succeeded", status.get("error")
    assert [e["phase"] for e in epoch_events(run_dir)] == ["all", "all"]


def test_runs_are_reproducible(shapes, home):
    first, _ = train(shapes, home, strategy="fine_tune", epochs=1, head_epochs=2, seed=3)
    second, _ = train(shapes, home, strategy="fine_tune", epochs=1, head_epochs=2, seed=3)
    losses = lambda run_dir: [(e["train_loss"], e["val_acc"]) for e in epoch_events(run_dir)]
    assert losses(first) == losses(second)


def test_a_cancel_request_stops_the_run(shapes, home):
    config = RunConfig(data=str(shapes), image_size=64, batch_size=4, strategy="fine_tune", epochs=50)
    run_dir = runs.create_run(config)
    RunFolder(run_dir).request_cancel()
    status = execute_run(run_dir)
    assert status["state"] == "cancelled"
    assert not (run_dir / "model_best.pt").exists()


def test_a_run_cancelled_after_some_rounds_keeps_its_best_model_so_far(shapes, home):
    import time

    config = RunConfig(data=str(shapes), image_size=64, batch_size=8, epochs=200, early_stop_patience=0)
    run_dir = runs.create_run(config)

    class CancelAfterTwoRounds:
        def on_epoch_end(self, epoch, **_):
            if epoch == 2:
                RunFolder(run_dir).request_cancel()
                time.sleep(0.2)  # the worker looks for the request at most every 0.1 s

    status = execute_run(run_dir, callbacks=[CancelAfterTwoRounds()])
    assert status["state"] == "cancelled" and status["epochs_run"] == 2
    model, _, labels, meta = load_checkpoint(run_dir / "model_best.pt")
    assert meta["epoch"] == status["best_epoch"] in (1, 2) and meta["val_acc"] == pytest.approx(status["best_val_acc"])
    assert labels == ["blue_squares", "green_triangles", "red_circles"]
    assert (run_dir / "predictions.json").is_file()  # the pictures behind its answers, as a finished run has


def test_bad_data_fails_the_run_with_the_reason(tmp_path, home):
    one_class = make_image_folder(tmp_path / "one", {"cats": 5})
    _, status = train(one_class, home)
    assert status["state"] == "failed"
    assert "class" in status["error"] and "Traceback" not in status["error"]


def tiny_phase_data(features, labels):
    batches = ArrayBatches(features, labels, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    return PhaseData(train=batches, val=ArrayBatches(features, labels, 8, False), prepare=lambda x, training: x)


def linear_phase(head, epochs):
    return Phase("head", epochs, "embeddings", nn.Identity(), head, [{"params": list(head.parameters()), "lr": 0.01}],
                 train_modules=[head])


def test_validation_runs_in_eval_mode_whatever_the_phase_trains():
    """A phase that trains BatchNorm (scratch) must not validate with batch statistics."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    features = torch.randn(24, 4) * 3 + 1
    labels = (features[:, 0] > 1).long()
    phase = Phase(name="all", body=nn.Identity(), head=model, inputs="embeddings", epochs=2,
                  param_groups=[{"params": list(model.parameters()), "lr": 1e-2}],
                  train_modules=[model], freeze_norm_stats=False)
    seen = []

    class Watch:
        def on_epoch_end(self, **stats):
            seen.append((stats["val_loss"], model.training))

    def data_with_val_batch(size):
        return lambda _: PhaseData(train=ArrayBatches(features, labels, 8, True, torch.Generator().manual_seed(0)),
                                   val=ArrayBatches(features, labels, size, False), prepare=lambda x, training: x)

    fit(model, [phase], data_with_val_batch(24), device=torch.device("cpu"), num_classes=2, callbacks=[Watch()])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(training for _, training in seen)  # training modes come back after each validation
    # Validating again in batches of 5 instead of 24 gives the same loss and leaves the statistics alone.
    from tlcore.training.loop import evaluate
    again = evaluate(model, data_with_val_batch(5)(phase), device=torch.device("cpu"), num_classes=2)
    assert again["val_loss"] == pytest.approx(seen[-1][0], rel=1e-5)
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())


def test_trained_batchnorm_statistics_are_the_training_images_averages_at_validation():
    """After a few steps the running averages would still be near their start; validation must not use those."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))
    features = torch.randn(24, 4) * 3 + 5  # far from the initial statistics (mean 0, variance 1)
    labels = (features[:, 0] > 5).long()
    phase = Phase(name="all", body=nn.Identity(), head=model, inputs="embeddings", epochs=1,
                  param_groups=[{"params": list(model.parameters()), "lr": 1e-2}],
                  train_modules=[model], freeze_norm_stats=False)
    generator = torch.Generator().manual_seed(0)
    data = PhaseData(train=ArrayBatches(features, labels, 8, True, generator),
                     val=ArrayBatches(features, labels, 8, False), prepare=lambda x, training: x)
    order_before = generator.get_state()
    fit(model, [phase], lambda _: data, device=torch.device("cpu"), num_classes=2)
    norm = model[0]
    # Three equal batches in the order the next epoch would draw: their means' and unbiased variances' average.
    assert torch.allclose(norm.running_mean, features.mean(0), atol=1e-4)
    replay = torch.Generator().set_state(order_before)
    torch.randperm(24, generator=replay)  # the epoch's own order
    after_epoch = replay.get_state()
    batches = torch.randperm(24, generator=replay).split(8)
    assert torch.allclose(norm.running_var, torch.stack([features[i].var(0) for i in batches]).mean(0), rtol=1e-4)
    assert torch.equal(generator.get_state(), after_epoch)  # the run's batch order is untouched
    assert norm.momentum == 0.1  # training goes on with the usual running averages


def test_a_nan_loss_fails_with_epoch_and_step():
    head = nn.Linear(4, 2)
    features = np.ones((8, 4), dtype=np.float32)
    features[5] = np.inf
    labels = np.array([0, 1] * 4)
    with pytest.raises(TrainingFailed, match=r"epoch 1, step \d"):
        fit(head, [linear_phase(head, 2)], lambda phase: tiny_phase_data(features, labels),
            device=torch.device("cpu"), num_classes=2)


def test_should_stop_is_honoured_within_one_batch():
    head = nn.Linear(4, 2)
    features = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64)
    calls = {"batches": 0}

    class CountBatches:
        def on_batch_end(self, **_):
            calls["batches"] += 1

    with pytest.raises(StopRequested):
        fit(head, [linear_phase(head, 5)], lambda phase: tiny_phase_data(features, labels),
            device=torch.device("cpu"), num_classes=2, callbacks=[CountBatches()],
            should_stop=lambda: calls["batches"] >= 3)
    assert calls["batches"] == 3


def test_should_stop_is_honoured_during_validation_too():
    head = nn.Linear(4, 2)
    features = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64)
    asked = {"calls": 0}
    train_batches = 10  # 40 images in batches of 4; validation then reads 5 batches of 8

    def should_stop():
        asked["calls"] += 1
        return asked["calls"] > train_batches + 1  # every training batch went by; stop at the 2nd validation batch

    with pytest.raises(StopRequested):
        fit(head, [linear_phase(head, 5)], lambda phase: tiny_phase_data(features, labels),
            device=torch.device("cpu"), num_classes=2, should_stop=should_stop)
    assert asked["calls"] == train_batches + 2


def test_a_second_signal_stops_the_worker_wherever_it_is(tmp_path):
    import os
    import signal

    from tlcore.runs.execution.worker import CancelFlag

    def spin():  # signal handlers run between bytecodes of the main thread
        for _ in range(10_000):
            pass

    before = signal.getsignal(signal.SIGTERM)
    flag = CancelFlag(tmp_path)
    with flag.signal_handlers():
        flag.armed = True  # the run's work is under way
        os.kill(os.getpid(), signal.SIGTERM)  # the first asks: the loop sees it at its next batch
        spin()
        assert flag()
        with pytest.raises(StopRequested):  # the second insists: raised right where the worker is
            os.kill(os.getpid(), signal.SIGTERM)
            spin()
        flag.armed = False  # the final status is being written: nothing may cut it short
        os.kill(os.getpid(), signal.SIGTERM)
        spin()
    assert signal.getsignal(signal.SIGTERM) is before  # the process's own handlers are back


def test_early_stopping_ends_a_phase():
    head = nn.Linear(4, 2)
    features = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64)  # separable: accuracy saturates quickly
    result = fit(head, [linear_phase(head, 200)], lambda phase: tiny_phase_data(features, labels),
                 device=torch.device("cpu"), num_classes=2, early_stop_patience=3)
    assert result.stopped_early and result.epochs_run < 200
    assert result.best_epoch == result.epochs_run - 3  # stopped exactly `patience` epochs after the best
    assert result.best_val_acc >= 0.85


def still_phase(head, epochs, name="head"):
    """A phase whose rate is zero: its first round is the best, and no later round does better."""
    return Phase(name, epochs, "embeddings", nn.Identity(), head, [{"params": list(head.parameters()), "lr": 0.0}],
                 train_modules=[head])


def test_a_run_that_did_all_its_rounds_did_not_stop_early():
    head = nn.Linear(4, 2)
    features = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64)
    data = lambda phase: tiny_phase_data(features, labels)
    # Patience runs out on the phase's last round: there was nothing left to skip.
    result = fit(head, [still_phase(head, 4)], data, device=torch.device("cpu"), num_classes=2, early_stop_patience=3)
    assert result.epochs_run == 4 and not result.stopped_early
    # A warm-up that stops early goes on to the next phase, which does all its rounds: the run did not stop early.
    result = fit(head, [still_phase(head, 10), still_phase(head, 2, "body")], data, device=torch.device("cpu"),
                 num_classes=2, early_stop_patience=3)
    assert result.epochs_run == 4 + 2 and not result.stopped_early


def test_an_image_size_the_backbone_cannot_take_is_refused_before_any_work(shapes, home):
    with pytest.raises(ConfigError, match=r"^ViT-B/16 takes 224 px images only; set the image size to 224\.$"):
        runs.create_run(RunConfig(data=str(shapes), backbone="vit_b_16", image_size=128))
    assert not list(runs.resolve_runs_dir(None).glob("*vit_b_16*"))  # refused before a run folder was made


def test_early_stopping_is_on_by_default_and_keeps_the_best_model(shapes, home):
    run_dir, status = train(shapes, home, strategy="feature_extraction", epochs=60)
    assert RunConfig(data="/d").early_stop_patience > 0
    assert status["state"] == "succeeded" and status["stopped_early"]
    epochs = epoch_events(run_dir)
    assert len(epochs) < 60
    assert status["best_val_acc"] == max(e["val_acc"] for e in epochs)
    assert len(epochs) - status["best_epoch"] == RunConfig(data="/d").early_stop_patience

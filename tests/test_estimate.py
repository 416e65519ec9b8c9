"""The time estimate: a real (tiny) measurement, and arithmetic that follows each strategy."""
import pytest

import json

from tlcore.report.estimate import (WORKER_STARTUP_S, Throughput, estimate_seconds, measure_throughput, recall_or_measure,
                             recalled_throughput)

RATE = Throughput("mobilenet_v2", 128, "CPU · 2 threads", eval_images_per_s=100.0, train_images_per_s=25.0,
                  build_s=0.5)


def test_measurement_times_real_batches():
    rate = measure_throughput("mobilenet_v2", 32, "cpu", train=True, batch_size=2, batches=1)
    assert rate.eval_images_per_s > 0 and rate.train_images_per_s > 0 and rate.build_s >= 0
    assert rate.image_size == 32 and "CPU" in rate.device_label


def test_a_measurement_is_made_once_per_machine_and_setting(tmp_path):
    store = tmp_path / "throughputs.json"
    assert recalled_throughput("mobilenet_v2", 32, "cpu", train=False, store=store) is None
    measured = recall_or_measure("mobilenet_v2", 32, "cpu", train=False, store=store)
    assert measured.eval_images_per_s > 0 and measured.train_images_per_s is None
    (key,) = json.loads(store.read_text())
    assert "mobilenet_v2" in key and "32 px" in key and "CPU" in key and "torch" in key  # what speed depends on
    # Found again, without measuring: the same figures, also from another process (the file).
    assert recall_or_measure("mobilenet_v2", 32, "cpu", train=False, store=store) == measured
    assert recalled_throughput("mobilenet_v2", 32, "cpu", train=False, store=store) == measured
    # Another image size or mode is another measurement.
    assert recalled_throughput("mobilenet_v2", 64, "cpu", train=False, store=store) is None
    assert recalled_throughput("mobilenet_v2", 32, "cpu", train=True, store=store) is None


def test_a_measurement_taken_under_load_is_not_kept(tmp_path):
    store = tmp_path / "throughputs.json"
    recall_or_measure("mobilenet_v2", 32, "cpu", train=False, remember=False, store=store)
    assert not store.exists()


def test_feature_extraction_embeds_once_whatever_the_epochs():
    few = estimate_seconds(RATE, "feature_extraction", epochs=1, train_images=800, val_images=200)
    many = estimate_seconds(RATE, "feature_extraction", epochs=100, train_images=800, val_images=200)
    assert few == pytest.approx(WORKER_STARTUP_S + 0.5 + 1000 / 100, abs=0.2)
    assert many - few < 10  # a hundred head epochs cost seconds, not another pass over the images


def test_strategies_that_train_the_body_pay_per_epoch():
    epoch_s = 800 / 25 + 200 / 100
    fine_tune = estimate_seconds(RATE, "fine_tune", epochs=3, train_images=800, val_images=200, head_epochs=0)
    assert fine_tune == pytest.approx(WORKER_STARTUP_S + 0.5 + 3 * epoch_s, abs=0.1)
    warmed_up = estimate_seconds(RATE, "fine_tune", epochs=3, train_images=800, val_images=200, head_epochs=5)
    assert warmed_up > fine_tune  # the same epochs plus the warm-up on features
    # From random weights BatchNorm trains too: each epoch also re-averages its statistics over the training images.
    scratch = estimate_seconds(RATE, "scratch", epochs=3, train_images=800, val_images=200)
    assert scratch == pytest.approx(WORKER_STARTUP_S + 0.5 + 3 * (epoch_s + 800 / 100), abs=0.1)


def test_training_strategies_need_a_training_measurement():
    forward_only = Throughput("mobilenet_v2", 128, "CPU", 100.0, None, 0.5)
    with pytest.raises(ValueError, match="training steps"):
        estimate_seconds(forward_only, "fine_tune", epochs=1, train_images=10, val_images=2)
    with pytest.raises(ValueError, match="Unknown strategy"):
        estimate_seconds(RATE, "magic", epochs=1, train_images=10, val_images=2)


@pytest.mark.parametrize("damage", [b"[1, 2, 3]", b"\xff\xfe not text", b'{"x": 1}'])
def test_a_damaged_measurements_file_means_measure_again(tmp_path, damage):
    store = tmp_path / "throughputs.json"
    store.write_bytes(damage)
    assert recalled_throughput("mobilenet_v2", 32, "cpu", train=False, store=store) is None
    measured = recall_or_measure("mobilenet_v2", 32, "cpu", train=False, store=store)
    assert recalled_throughput("mobilenet_v2", 32, "cpu", train=False, store=store) == measured


def test_a_kept_measurement_of_another_shape_is_ignored(tmp_path):
    store = tmp_path / "throughputs.json"
    recall_or_measure("mobilenet_v2", 32, "cpu", train=False, store=store)
    kept = json.loads(store.read_text())
    store.write_text(json.dumps({key: {"images_per_s": 1.0} for key in kept}))  # an older version's fields
    assert recalled_throughput("mobilenet_v2", 32, "cpu", train=False, store=store) is None


def test_validation_while_the_body_trains_is_timed_unfolded():
    rate = measure_throughput("mobilenet_v2", 32, "cpu", train=True, batch_size=2, batches=1)
    assert rate.val_images_per_s > 0
    slow_validation = Throughput("mobilenet_v2", 128, "CPU", eval_images_per_s=100.0, train_images_per_s=25.0,
                                 build_s=0.5, val_images_per_s=50.0)
    fast = estimate_seconds(RATE, "fine_tune", epochs=3, train_images=800, val_images=200, head_epochs=0)
    slow = estimate_seconds(slow_validation, "fine_tune", epochs=3, train_images=800, val_images=200, head_epochs=0)
    assert slow - fast == pytest.approx(3 * (200 / 50 - 200 / 100), abs=0.1)


def test_a_second_dataset_and_meta_learnings_practice_add_their_work():
    plain = estimate_seconds(RATE, "fine_tune", epochs=3, train_images=100, val_images=50, head_epochs=0)
    joint = estimate_seconds(RATE, "fine_tune", epochs=3, train_images=100, val_images=50, head_epochs=0, joint=True)
    assert joint - plain == pytest.approx(3 * 100 / RATE.train_images_per_s, abs=0.2)  # a batch of each per step

    practice = estimate_seconds(RATE, "meta_learning", epochs=3, train_images=100, val_images=50, head_epochs=0,
                                options={"episodes": 10, "ways": 5, "shots": 2, "inner_steps": 4})
    episode = 4 * 5 * 2 / RATE.train_images_per_s + 5 * 15 / (RATE.val_images_per_s or RATE.eval_images_per_s)
    assert practice - plain == pytest.approx(10 * episode, abs=0.2)


def test_l2_sp_pays_for_its_pull_toward_the_pretrained_weights_on_every_step():
    # Its penalty is a pass over every weight each step, on top of fine-tuning's step: the same settings
    # cost more, by that pass per step (ceil(800 / 32) = 25 steps an epoch), not the same as fine-tuning.
    rate = Throughput("mobilenet_v2", 128, "CPU", eval_images_per_s=100.0, train_images_per_s=25.0, build_s=0.5,
                      pull_s=0.2)
    settings = dict(epochs=3, train_images=800, val_images=200, head_epochs=5)
    fine_tune = estimate_seconds(rate, "fine_tune", **settings)
    l2_sp = estimate_seconds(rate, "l2_sp", **settings)
    assert l2_sp - fine_tune == pytest.approx(3 * 25 * 0.2, abs=0.1)
    smaller_steps = estimate_seconds(rate, "l2_sp", **settings, batch_size=16)
    assert smaller_steps - fine_tune == pytest.approx(3 * 50 * 0.2, abs=0.1)  # twice the steps, twice the pulls


def test_the_measurement_times_the_pull_and_the_pictures_preparation():
    rate = measure_throughput("mobilenet_v2", 32, "cpu", train=True, batch_size=2, batches=1)
    assert rate.pull_s > 0
    assert measure_throughput("mobilenet_v2", 32, "cpu", train=False, batches=1).pull_s is None


def test_features_another_run_cached_are_not_described_again():
    fresh = estimate_seconds(RATE, "feature_extraction", epochs=20, train_images=800, val_images=200)
    cached = estimate_seconds(RATE, "feature_extraction", epochs=20, train_images=800, val_images=200,
                              features_cached=True)
    assert fresh - cached == pytest.approx(1000 / 100, abs=0.1)


def test_a_run_started_behind_others_waits_for_them(tmp_path):
    import time

    from tlcore.config import RunConfig
    from tlcore.report.estimate import wait_to_start
    from tlcore.runs import RunFolder
    from tlcore.runs.store.creation import make_run_folder

    runs_dir = tmp_path / "runs"
    config = RunConfig(data=str(tmp_path))
    assert wait_to_start(config, runs_dir=runs_dir) == (0, 0.0)  # a free device: it starts at once

    now = time.time()
    for state, fields in [("succeeded", {"wall_s": 30.0, "started_at": now - 100}),
                          ("running", {"started_at": now - 5, "progress": {"eta_s": 60.0}}), ("queued", {})]:
        RunFolder(make_run_folder(config, runs_dir)).update_status(state=state, **fields)
    # The run training now has a minute left; the one waiting takes what the finished one like it took.
    ahead, seconds = wait_to_start(config, runs_dir=runs_dir)
    assert ahead == 2 and seconds == pytest.approx(60 + 30, abs=1)


def test_meta_learnings_practice_is_timed_at_the_rate_of_its_own_steps():
    # Its inner steps train the last stage only: measured apart, they run faster than the whole body's steps.
    rate = measure_throughput("mobilenet_v2", 32, "cpu", train=True, batch_size=2, batches=1)
    assert rate.practice_images_per_s > 0
    options = {"episodes": 10, "ways": 5, "shots": 2, "inner_steps": 4}
    whole_body = estimate_seconds(RATE, "meta_learning", epochs=3, train_images=100, val_images=50, options=options)
    practice_rate = Throughput("mobilenet_v2", 128, "CPU · 2 threads", eval_images_per_s=100.0, train_images_per_s=25.0,
                               build_s=0.5, practice_images_per_s=100.0)
    last_stage = estimate_seconds(practice_rate, "meta_learning", epochs=3, train_images=100, val_images=50,
                                  options=options)
    assert whole_body - last_stage == pytest.approx(10 * 4 * 5 * 2 * (1 / 25 - 1 / 100), abs=0.2)

"""The built-in lessons: a card's time comes from the measured speed, the words after from the lesson's results."""
import pytest

from tlcore.report.estimate import WORKER_STARTUP_S, Throughput, estimate_seconds
from tlcore.report.lesson_time import lesson_runs, lesson_seconds
from tlcore.runs.experiments.lessons import IMAGE_SIZE, LESSONS, get_lesson

RATE = Throughput("mobilenet_v2", IMAGE_SIZE, "CPU · 2 threads", eval_images_per_s=1600.0, train_images_per_s=200.0,
                  build_s=0.1, val_images_per_s=1000.0, pull_s=0.01)
HALF = Throughput("mobilenet_v2", IMAGE_SIZE, "CPU · 2 threads", eval_images_per_s=800.0, train_images_per_s=100.0,
                  build_s=0.1, val_images_per_s=500.0, pull_s=0.02)


def test_a_lessons_time_is_every_run_it_queues_timed_from_the_measured_speed():
    lesson = get_lesson("extract-or-tune")
    planned = lesson_runs(lesson)
    assert len(planned) == 12  # 2 ways x 3 sizes x 2 seeds, as the experiment queues them
    seconds = lesson_seconds(lesson, lambda backbone: RATE)
    # Twelve runs each start a worker: the card's old "1 minute" could not hold on any machine.
    assert seconds > 12 * WORKER_STARTUP_S
    # Fine-tuning's runs are most of it: each trains the body for 3 rounds after the warm-up.
    tuning = [run for run in planned if run["strategy"] == "fine_tune"]
    assert {run["epochs"] for run in tuning} == {3} and len(tuning) == 6
    assert sum(estimate_seconds(RATE, "fine_tune", epochs=3, train_images=run["train_images"], val_images=500,
                                head_epochs=run["head_epochs"], features_cached=True) for run in tuning) < seconds
    # From the measurement, not a fixed figure: a machine half as fast takes longer.
    assert lesson_seconds(lesson, lambda backbone: HALF) > seconds


def test_the_pictures_are_described_once_per_lesson_and_network():
    lesson = get_lesson("pretraining")  # feature extraction at 4 sizes x 2 seeds, one feature pass
    once = lesson_seconds(lesson, lambda backbone: RATE)
    runs = lesson_runs(lesson)
    each = sum(estimate_seconds(RATE, run["strategy"], epochs=run["epochs"], train_images=run["train_images"],
                                val_images=run["val_images"]) for run in runs)
    assert once < each  # seven of the eight feature-extraction runs find the features cached


def test_every_lesson_is_timed_and_none_before_a_measurement():
    for lesson in LESSONS:
        assert lesson_seconds(lesson, lambda backbone: RATE) > WORKER_STARTUP_S * len(lesson_runs(lesson))
        assert lesson_seconds(lesson, lambda backbone: None) is None
    meta = [run for run in lesson_runs(get_lesson("few-pictures")) if run["strategy"] == "meta_learning"]
    assert meta and all(run["features"] is None for run in meta)  # practice changes the body: features of its own
    shifted = lesson_runs(get_lesson("domain-shift"))
    assert all(run["target_images"] == 500 for run in shifted)  # the target is checked every round


def row(arm, per_class, accuracy, seconds=10.0, seed=0, state="succeeded", target=None):
    return {"arm": arm, "per_class": per_class, "seed": seed, "state": state, "best_val_acc": accuracy,
            "seconds": seconds, "target_acc": target}


def test_the_words_after_lesson_2_come_from_its_results():
    lesson = get_lesson("extract-or-tune")
    # As in the trial: feature extraction won by 5 points with few pictures, in a fraction of the time.
    rows = [row("Feature extraction", 5, 0.62, 4.0), row("Fine-tuning", 5, 0.57, 30.0),
            row("Feature extraction", 40, 0.80, 5.0, seed=1), row("Feature extraction", 40, 0.82, 5.0),
            row("Fine-tuning", 40, 0.805, 40.0)]
    said = " ".join(lesson.conclusion(rows))
    assert "With 5 pictures per class, feature extraction scored 62% and fine-tuning 57%: feature extraction " \
           "was ahead by 5 points." in said
    assert "With 40 pictures per class" in said and "within a point of each other" in said  # 81% against 80.5%
    assert "one of fine-tuning 35 s: 7.5 times as long" in said  # 4.7 s a run against 35 s
    assert "close" not in said and "bought no accuracy" in said

    tuned_wins = [row("Feature extraction", 5, 0.60), row("Fine-tuning", 5, 0.70, 30.0)]
    said = " ".join(lesson.conclusion(tuned_wins))
    assert "fine-tuning was ahead by 10 points" in said and "Fine-tuning was ahead with 5 pictures per class" in said


def test_each_lesson_has_words_from_results_and_none_before_any():
    for lesson in LESSONS:
        rows = [row(arm.label, size, 0.5 + 0.1 * index, target=0.4 + 0.05 * index)
                for index, arm in enumerate(lesson.arms) for size in lesson.sizes]
        assert lesson.conclusion(rows), lesson.lesson_id
        assert lesson.conclusion([{**r, "state": "running", "best_val_acc": None} for r in rows]) == []
    scratch_near_chance = [row("Pretrained (feature extraction)", 5, 0.7), row("From scratch", 5, 0.25)]
    assert "barely better than guessing (20%)" in " ".join(get_lesson("pretraining").conclusion(scratch_near_chance))
    shift = [row("Feature extraction", 0, 0.9, target=0.5), row("Domain alignment (DANN)", 0, 0.88, target=0.6)]
    said = " ".join(get_lesson("domain-shift").conclusion(shift))
    assert "90% on the validation pictures, 50% where it will be used (40 points lost)" in said
    assert "domain alignment was 10 points ahead of feature extraction" in said


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.lesson_id)
def test_a_lesson_promises_no_result_before_it_ran(lesson):
    # Claims about the outcome ("the two are close", "shines") belong in the words made from its results.
    for claim in ("are close", "shines", "is many times faster", "barely beats", "stays high"):
        assert claim not in lesson.before + lesson.read

"""Built-in lessons: experiments on data that works offline, with plain words before and after.

Each lesson is an ordinary experiment (tlcore.runs.experiments.grid) on Fashion-MNIST, sized to finish
on two CPU cores within ten minutes; its measured time (bench/lessons.py) is on its card.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tlcore import paths
from tlcore.config import RunConfig
from tlcore.data.imagecache import ImageCache
from tlcore.data.samples import install_domain_pair, install_fashion_mnist
from tlcore.data.scan import scan
from tlcore.people.person import Person
from tlcore.runs.experiments.queue import Submit, queue_experiment
from tlcore.runs.experiments.grid import ALL, SOURCE, Arm, Experiment, new_experiment

IMAGE_SIZE = 64  # small pictures: every lesson fits ten minutes of a classroom laptop's processor
FASHION_0_4 = (0, 1, 2, 3, 4)
# Fine-tuning's rounds in a lesson: the three its card's time was measured with (bench/experiments.py),
# short enough for a class; the studio's default for a run of one's own is ten.
LESSON_TUNING = {"epochs": 3}


@dataclass(frozen=True)
class Lesson:
    lesson_id: str
    title: str
    before: str  # the question, and what to watch for
    after: str  # how to read the results
    measured: str  # its wall time here, from bench/lessons.py
    build: Callable[[Submit, Person], Experiment]  # queues its runs for that person


def _checked(folder: Path):
    return scan(folder, cache=ImageCache(paths.cache_dir()), image_size=IMAGE_SIZE)


def _experiment(lesson_id: str, title: str, folder: Path, arms: list[Arm], sizes: list[int], seeds: int,
                submit: Submit, owner: Person, source_run: str | None = None) -> Experiment:
    experiment = new_experiment(_checked(folder), arms=arms, sizes=sizes, seeds=seeds,
                                base={"image_size": IMAGE_SIZE}, name=title, lesson=lesson_id,
                                dataset_label="Fashion-MNIST (5 classes)", source_run=source_run, owner=owner)
    queue_experiment(experiment, submit)
    return experiment


def _pretraining(submit: Submit, owner: Person) -> Experiment:
    arms = [Arm("Pretrained (feature extraction)", "feature_extraction"), Arm("From scratch", "scratch")]
    return _experiment("pretraining", "What pretraining buys", install_fashion_mnist(), arms, [5, 10, 20, 40], 2,
                       submit, owner)


def _extract_or_tune(submit: Submit, owner: Person) -> Experiment:
    arms = [Arm("Feature extraction", "feature_extraction"), Arm("Fine-tuning", "fine_tune", overrides=LESSON_TUNING)]
    return _experiment("extract-or-tune", "Feature extraction or fine-tuning?", install_fashion_mnist(), arms,
                       [5, 20, 40], 2, submit, owner)


def _own_source(submit: Submit, owner: Person) -> Experiment:
    source_data = install_fashion_mnist(classes=FASHION_0_4, train_per_class=300, val_per_class=50)
    source = submit(RunConfig(data=str(source_data), strategy="scratch", image_size=IMAGE_SIZE, epochs=10,
                              early_stop_patience=0, name="Lesson: the source network (Fashion-MNIST 0-4)"),
                    _checked(source_data), owner)
    arms = [Arm("From your source run (feature extraction)", "feature_extraction", overrides={"init_from": SOURCE}),
            Arm("From your source run (fine-tuning)", "fine_tune", overrides={"init_from": SOURCE, **LESSON_TUNING}),
            Arm("From ImageNet (feature extraction)", "feature_extraction"), Arm("From scratch", "scratch")]
    return _experiment("own-source", "Your own source model", install_fashion_mnist(), arms, [5, 20, 40], 1,
                       submit, owner, source_run=source)


def _domain_shift(submit: Submit, owner: Person) -> Experiment:
    labelled, target = install_domain_pair("textured")
    where = {"target": str(target)}
    arms = [Arm("Feature extraction", "feature_extraction", overrides=where),
            Arm("Fine-tuning", "fine_tune", overrides={**where, **LESSON_TUNING}),
            Arm("Domain alignment (DANN)", "domain_adaptation", overrides=where)]
    return _experiment("domain-shift", "When the pictures change", labelled, arms, [ALL], 2, submit, owner)


def _few_pictures(submit: Submit, owner: Person) -> Experiment:
    practice = install_fashion_mnist(classes=FASHION_0_4, train_per_class=100, val_per_class=20)
    arms = [Arm("Class averages (prototypes)", "feature_extraction", overrides={"head": "prototypes"}),
            Arm("A new last layer (feature extraction)", "feature_extraction"),
            Arm("Meta-learning, practised on 0-4", "meta_learning", overrides={"meta_sources": [str(practice)]}),
            Arm("Fine-tuning", "fine_tune", overrides=LESSON_TUNING)]
    return _experiment("few-pictures", "A few pictures per class", install_fashion_mnist(), arms, [1, 5], 2, submit,
                       owner)


LESSONS = [
    Lesson("pretraining", "1. What pretraining buys",
           "Does a network that has already seen a million photos learn your classes from fewer pictures? The "
           "same network learns five kinds of Fashion-MNIST clothing twice: starting from what it learned on "
           "ImageNet, and starting from random numbers, with 5 to 40 pictures per class.",
           "The gap between the two lines is what pretraining bought. Look at the smallest sizes: that is where "
           "a pretrained network shines, and where starting from nothing barely beats guessing (20%).",
           "measured: 2½ minutes on 2 CPU cores", _pretraining),
    Lesson("extract-or-tune", "2. Feature extraction or fine-tuning?",
           "Feature extraction keeps the network as it is and teaches only a new last layer; fine-tuning also "
           "adjusts the network. Which is better, and is it worth its time?",
           "Compare the lines, then the time plot: with few pictures the two are close and feature extraction is "
           "many times faster; fine-tuning earns its time only with more pictures, or pictures far from ImageNet's.",
           "measured: 1 minute on 2 CPU cores", _extract_or_tune),
    Lesson("own-source", "3. Your own source model",
           "The classic experiment: train a network from scratch on five classes (T-shirts, trousers, pullovers, "
           "dresses, coats), then reuse it on five others (sandals, shirts, sneakers, bags, boots), against "
           "ImageNet's network and against nothing.",
           "Your source beats scratch when pictures are few, but ImageNet's million varied photos teach far more "
           "general features than a few thousand tops and dresses: the more different the classes, the less a "
           "small source helps.",
           "measured: 2 minutes on 2 CPU cores", _own_source),
    Lesson("domain-shift", "4. When the pictures change",
           "The model learns from plain Fashion-MNIST pictures, then meets the same clothes tinted and on striped "
           "backgrounds. How much is lost, and does domain alignment (DANN), which also sees the new pictures "
           "without their labels, win it back?",
           "Read the target plot: accuracy where the model will be used. The validation accuracy stays high for "
           "all three, because validation pictures look like the training ones; only the target shows the loss.",
           "measured: 1 minute on 2 CPU cores", _domain_shift),
    Lesson("few-pictures", "5. A few pictures per class",
           "With one or five pictures per class, what works best: averaging each class's features (prototypes), "
           "a new last layer, meta-learning that practised on other classes first, or fine-tuning?",
           "Simple class averages on a good network are hard to beat with so few pictures; methods that adjust "
           "the network have almost nothing to adjust it with.",
           "measured: 3½ minutes on 2 CPU cores", _few_pictures),
]


def get_lesson(lesson_id: str) -> Lesson | None:
    return next((lesson for lesson in LESSONS if lesson.lesson_id == lesson_id), None)

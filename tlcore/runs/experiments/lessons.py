"""Built-in lessons: experiments on data that works offline, with plain words before and after.

Each lesson is an ordinary experiment (tlcore.runs.experiments.grid) on Fashion-MNIST, sized for a
class on two CPU cores. A lesson is data: its arms, sizes and seeds, and the pictures it installs,
whose counts are known before they are written, so the time a lesson takes here is estimated from
the machine's measured speed (tlcore.report.lesson_time) before it starts. What it showed is written
from its own results once its runs have finished (tlcore.runs.experiments.lesson_words), never
promised in advance.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tlcore import paths
from tlcore.config import RunConfig
from tlcore.data.imagecache import ImageCache
from tlcore.data.samples import install_domain_pair, install_fashion_mnist
from tlcore.data.scan import scan
from tlcore.people.person import Person
from tlcore.runs.experiments import lesson_words
from tlcore.runs.experiments.grid import ALL, SOURCE, Arm, Experiment, new_experiment
from tlcore.runs.experiments.queue import Submit, queue_experiment

IMAGE_SIZE = 64  # small pictures: every lesson fits a classroom laptop's processor
FASHION_0_4, FASHION_5_9 = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
# Fine-tuning's rounds in a lesson: three, short enough for a class; the studio's default for a run of
# one's own is ten.
LESSON_TUNING = {"epochs": 3}
# An arm's setting that means "the lesson's own pictures of this kind, once written" (as grid.SOURCE
# means the experiment's source run).
TARGET, PRACTICE = "@target", "@practice"


@dataclass(frozen=True)
class Pictures:
    """A set of pictures a lesson writes to the data folder (once), with its size known beforehand."""

    install: Callable[[], Path]
    classes: int
    train_per_class: int
    val_per_class: int

    @property
    def train(self) -> int:
        return self.classes * self.train_per_class

    @property
    def val(self) -> int:
        return self.classes * self.val_per_class

    @property
    def total(self) -> int:
        return self.train + self.val


def _fashion(classes: tuple[int, ...], train_per_class: int, val_per_class: int) -> Pictures:
    install = lambda: install_fashion_mnist(classes=classes, train_per_class=train_per_class,
                                            val_per_class=val_per_class)
    return Pictures(install, len(classes), train_per_class, val_per_class)


FASHION = _fashion(FASHION_5_9, 40, 100)
SOURCE_PICTURES = _fashion(FASHION_0_4, 300, 50)
PRACTICE_PICTURES = _fashion(FASHION_0_4, 100, 20)
# The domain-shift pair: Fashion-MNIST's folder as the labelled pictures, and the same classes tinted on
# striped backgrounds (labelled, so the lesson measures there; the labels never reach training).
SHIFTED = Pictures(lambda: install_domain_pair("textured", classes=FASHION_5_9, train_per_class=40,
                                               target_per_class=100)[1], 5, 0, 100)


@dataclass(frozen=True)
class SourceRun:
    """A run a lesson trains first, for arms that start from it (grid.SOURCE)."""

    pictures: Pictures
    settings: dict  # RunConfig fields besides the data and the picture size


@dataclass(frozen=True)
class Lesson:
    lesson_id: str
    title: str
    before: str  # the question, and what to watch for
    read: str  # how to read its plots; what they showed comes from its results (conclusion)
    arms: tuple[Arm, ...]
    sizes: tuple[int, ...]
    seeds: int
    pictures: Pictures = FASHION
    extra: dict[str, Pictures] = field(default_factory=dict)  # TARGET / PRACTICE pictures its arms use
    source: SourceRun | None = None

    def build(self, submit: Submit, owner: Person) -> Experiment:
        """Write its pictures, queue its source run (if any) and its experiment's runs for that person."""
        folders = {name: str(pictures.install()) for name, pictures in self.extra.items()}
        source_run = None
        if self.source is not None:
            data = self.source.pictures.install()
            config = RunConfig(data=str(data), image_size=IMAGE_SIZE, **self.source.settings)
            source_run = submit(config, _checked(data), owner)
        arms = [Arm(arm.label, arm.strategy, arm.backbone, _placed(arm.overrides, folders)) for arm in self.arms]
        experiment = new_experiment(_checked(self.pictures.install()), arms=arms, sizes=list(self.sizes),
                                    seeds=self.seeds, base={"image_size": IMAGE_SIZE}, name=self.title,
                                    lesson=self.lesson_id, dataset_label="Fashion-MNIST (5 classes)",
                                    source_run=source_run, owner=owner)
        queue_experiment(experiment, submit)
        return experiment

    def conclusion(self, rows: list[dict]) -> list[str]:
        """What this lesson's runs showed, in sentences written from their results (grid.results)."""
        return lesson_words.conclusion(self.lesson_id, rows, classes=self.pictures.classes)


def _checked(folder: Path):
    return scan(folder, cache=ImageCache(paths.cache_dir()), image_size=IMAGE_SIZE)


def _placed(overrides: dict, folders: dict[str, str]) -> dict:
    """An arm's settings with TARGET and PRACTICE replaced by the folders the lesson wrote."""
    def place(value):
        if isinstance(value, list):
            return [folders.get(v, v) for v in value]
        return folders.get(value, value) if isinstance(value, str) else value
    return {key: place(value) for key, value in overrides.items()}


LESSONS = [
    Lesson("pretraining", "1. What pretraining buys",
           "Does a network that has already seen a million photos learn your classes from fewer pictures? The "
           "same network learns five kinds of Fashion-MNIST clothing twice: starting from what it learned on "
           "ImageNet, and starting from random numbers, with 5 to 40 pictures per class.",
           "The gap between the two lines is what pretraining bought; a model that guesses scores 20% (one "
           "class in five).",
           (Arm("Pretrained (feature extraction)", "feature_extraction"), Arm("From scratch", "scratch")),
           (5, 10, 20, 40), 2),
    Lesson("extract-or-tune", "2. Feature extraction or fine-tuning?",
           "Feature extraction keeps the network as it is and teaches only a new last layer; fine-tuning also "
           "adjusts the network. Which is better, and is it worth its time?",
           "Compare the two lines at each number of pictures, then the time plot: how much longer fine-tuning "
           "took, and what it bought for that time.",
           (Arm("Feature extraction", "feature_extraction"),
            Arm("Fine-tuning", "fine_tune", overrides=LESSON_TUNING)), (5, 20, 40), 2),
    Lesson("own-source", "3. Your own source model",
           "The classic experiment: train a network from scratch on five classes (T-shirts, trousers, pullovers, "
           "dresses, coats), then reuse it on five others (sandals, shirts, sneakers, bags, boots), against "
           "ImageNet's network and against nothing.",
           "Compare your source's lines with scratch (what your own source bought) and with ImageNet's (what a "
           "million varied photos teach that a few thousand tops and dresses do not).",
           (Arm("From your source run (feature extraction)", "feature_extraction", overrides={"init_from": SOURCE}),
            Arm("From your source run (fine-tuning)", "fine_tune", overrides={"init_from": SOURCE, **LESSON_TUNING}),
            Arm("From ImageNet (feature extraction)", "feature_extraction"), Arm("From scratch", "scratch")),
           (5, 20, 40), 1,
           source=SourceRun(SOURCE_PICTURES, {"strategy": "scratch", "epochs": 10, "early_stop_patience": 0,
                                              "name": "Lesson: the source network (Fashion-MNIST 0-4)"})),
    Lesson("domain-shift", "4. When the pictures change",
           "The model learns from plain Fashion-MNIST pictures, then meets the same clothes tinted and on striped "
           "backgrounds. How much is lost, and does domain alignment (DANN), which also sees the new pictures "
           "without their labels, win it back?",
           "Read the target plot: accuracy where the model will be used. Validation pictures look like the "
           "training ones, so only the target shows what the change of pictures costs.",
           (Arm("Feature extraction", "feature_extraction", overrides={"target": TARGET}),
            Arm("Fine-tuning", "fine_tune", overrides={"target": TARGET, **LESSON_TUNING}),
            Arm("Domain alignment (DANN)", "domain_adaptation", overrides={"target": TARGET})), (ALL,), 2,
           extra={TARGET: SHIFTED}),
    Lesson("few-pictures", "5. A few pictures per class",
           "With one or five pictures per class, what works best: averaging each class's features (prototypes), "
           "a new last layer, meta-learning that practised on other classes first, or fine-tuning?",
           "Compare the four at one and at five pictures per class: which methods can do anything with so "
           "little, and which have almost nothing to learn from.",
           (Arm("Class averages (prototypes)", "feature_extraction", overrides={"head": "prototypes"}),
            Arm("A new last layer (feature extraction)", "feature_extraction"),
            Arm("Meta-learning, practised on 0-4", "meta_learning", overrides={"meta_sources": [PRACTICE]}),
            Arm("Fine-tuning", "fine_tune", overrides=LESSON_TUNING)), (1, 5), 2,
           extra={PRACTICE: PRACTICE_PICTURES}),
]


def get_lesson(lesson_id: str) -> Lesson | None:
    return next((lesson for lesson in LESSONS if lesson.lesson_id == lesson_id), None)

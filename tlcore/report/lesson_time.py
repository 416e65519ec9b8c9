"""How long a built-in lesson takes here, from the machine's measured speed (tlcore.report.estimate).

A lesson's runs are estimated one by one, as the Train page estimates a run, with what the lesson
shares counted once: runs that describe the same pictures with the same network (feature extraction,
fine-tuning's warm-up) find the features in the cache after the first, so the pictures are described
once per starting network. A body changed by practice (meta-learning) describes them anew.
"""
from __future__ import annotations

from collections.abc import Callable

from tlcore.config import RunConfig
from tlcore.report.estimate import Throughput, estimate_seconds, feature_pass_s
from tlcore.runs.experiments.grid import ALL, SOURCE
from tlcore.runs.experiments.lessons import IMAGE_SIZE, Lesson
from tlcore.training.strategies import get_strategy


def lesson_runs(lesson: Lesson) -> list[dict]:
    """Every run the lesson queues, as the estimate needs it: the network, strategy, settings and picture counts.

    Each dict has backbone, strategy, epochs, head_epochs, options, train_images, val_images, target_images and
    features (a key shared by the runs that can reuse one another's features, None for a run of its own).
    """
    planned = []
    if lesson.source is not None:
        settings = lesson.source.settings
        strategy = get_strategy(settings["strategy"])
        planned.append({"backbone": settings.get("backbone", RunConfig.backbone), "strategy": strategy.name,
                        "epochs": settings.get("epochs", strategy.default_epochs), "head_epochs": RunConfig.head_epochs,
                        "options": {}, "train_images": lesson.source.pictures.train,
                        "val_images": lesson.source.pictures.val, "target_images": 0, "features": None})
    pictures = lesson.pictures
    for arm in lesson.arms:
        strategy = get_strategy(arm.strategy)
        overrides = arm.overrides
        target = sum(lesson.extra[name].total for name in [overrides.get("target")] if name in lesson.extra)
        practised = strategy.before is not None  # its body changes before it describes the pictures
        start = "source" if overrides.get("init_from") == SOURCE else "pretrained"
        for size in lesson.sizes:
            train = pictures.train if size == ALL else min(size, pictures.train_per_class) * pictures.classes
            planned.extend({"backbone": arm.backbone, "strategy": arm.strategy,
                            "epochs": overrides.get("epochs", strategy.default_epochs),
                            "head_epochs": overrides.get("head_epochs", RunConfig.head_epochs),
                            "options": overrides.get("options", {}), "train_images": train,
                            "val_images": pictures.val, "target_images": target,
                            "features": None if practised else (arm.backbone, start)} for _ in range(lesson.seeds))
    return planned


def lesson_seconds(lesson: Lesson, throughput: Callable[[str], Throughput | None]) -> float | None:
    """Seconds the lesson's runs take one after another here; None until its networks' speed is measured.

    Args:
        throughput: a network's measured speed at the lesson's picture size, training steps included
            (ui.resources.known_throughput), or None when it has not been measured.
    """
    total, described = 0.0, set()
    for run in lesson_runs(lesson):
        rate = throughput(run["backbone"])
        if rate is None or rate.image_size != IMAGE_SIZE:
            return None
        shared = run["features"]
        total += estimate_seconds(rate, run["strategy"], epochs=run["epochs"], train_images=run["train_images"],
                                  val_images=run["val_images"], head_epochs=run["head_epochs"],
                                  target_images=run["target_images"], options=run["options"],
                                  features_cached=shared is not None)
        if shared is not None and shared not in described and _describes(run):
            described.add(shared)  # every picture of the lesson, once, whatever the sizes of its runs
            total += feature_pass_s(rate, lesson.pictures.total + run["target_images"])
    return round(total, 1)


def _describes(run: dict) -> bool:
    """Whether the run describes its pictures with the network (feature extraction, a warm-up)."""
    strategy = get_strategy(run["strategy"])
    return not strategy.trains_body or (strategy.warm_up and run["head_epochs"] > 0)

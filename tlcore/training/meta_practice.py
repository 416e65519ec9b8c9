"""Meta-learning's practice, the work its strategy does before its phases: the meta-sources checked
and loaded, then Reptile over their episodes, its progress reported as "on_practice" events.

The episodes' accuracy is kept apart from the epochs' on purpose: it measures how well the start
adapts to small practice tasks, not the model on the person's classes, and must not compete with
validation in choosing the model a run keeps.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from tlcore.data.batches import to_model_input
from tlcore.data.decoding import load_sample_arrays
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError
from tlcore.data.scan import scan
from tlcore.models.classifier import Classifier
from tlcore.training.meta_learning import QUERIES_PER_CLASS, MetaSettings, Pool, check_pools, meta_train

STAGE = "meta-training"
EVENT_INTERVAL_S = 0.5
SUMMARY_SHARE = 0.1  # first and last tenth of the episodes: how well the start adapted, before and after
SETTING_KEYS = ("episodes", "ways", "shots", "inner_steps", "inner_lr", "outer_lr")


def meta_settings(spec, config) -> MetaSettings:
    """A meta-learning run's settings (spec: its strategy's registry entry), its own or the defaults."""
    return MetaSettings(**{key: spec.option(config, key) for key in SETTING_KEYS})


def source_names(paths: list[str]) -> list[str]:
    """A name per meta-source for messages: its folder's name, with the folder above where two share one."""
    names = [Path(p).name or p for p in paths]
    return [f"{Path(p).parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)]


def load_pools(spec, config, cache: ImageCache, progress) -> list[Pool]:
    """Each meta-source's pictures, every split together; refused in words before any training.

    Args:
        progress: a scan's progress callback (done, total), raising StopRequested on a cancel.
    """
    settings = meta_settings(spec, config)
    manifests = {}
    for path, name in zip(config.meta_sources, source_names(config.meta_sources)):
        if not Path(path).expanduser().exists():
            raise DataError(f"The meta-learning source '{path}' does not exist (any more).")
        try:
            manifests[name] = scan(path, cache=cache, image_size=config.image_size, val_fraction=config.val_fraction,
                                   seed=config.seed, on_progress=progress)
        except DataError as error:
            raise DataError(f"The meta-learning source '{name}' cannot be used: {error}") from None
    check_pools({name: {cls: sum(per.values()) for cls, per in m.counts().items()} for name, m in manifests.items()},
                settings.ways, settings.shots)
    return [Pool(name, m.classes, *load_sample_arrays(m.samples, cache, config.image_size))
            for name, m in manifests.items()]


def practise(spec, model: Classifier, config, pools: list[Pool], *, device: torch.device, should_stop,
             report) -> dict:
    """Reptile on the model's last body stage; the head takes the meta-learned start when the classes fit.

    Args:
        report: sends one of the run's events (tlcore.training.events.call bound to its callbacks).
    Returns:
        The status fields that sum it up: episodes, query accuracy over the first and last tenth.
    """
    settings = meta_settings(spec, config)
    backbone = model.backbone
    accuracies: list[float] = []
    last_event = [0.0]
    report("on_practice", stage=STAGE, done=0, total=settings.episodes)

    def on_episode(done: int, query_acc: float, loss: float) -> None:
        accuracies.append(query_acc)
        now = time.monotonic()
        if done < settings.episodes and now - last_event[0] < EVENT_INTERVAL_S:
            return
        last_event[0] = now
        window = accuracies[-max(1, int(len(accuracies) * SUMMARY_SHARE)):]
        report("on_practice", stage=STAGE, done=done, total=settings.episodes,
               figures={"ways": settings.ways, "query_acc": round(query_acc, 4),
                        "recent_query_acc": round(float(np.mean(window)), 4), "loss": round(loss, 4)})

    def prepare(images: np.ndarray) -> torch.Tensor:
        return to_model_input(torch.from_numpy(images), backbone.spec.mean, backbone.spec.std, device)

    head = meta_train(backbone, backbone.stages()[-1], backbone.spec.feature_dim, pools, settings, prepare=prepare,
                      rng=np.random.default_rng(config.seed), should_stop=should_stop, on_episode=on_episode)
    if isinstance(model.head, torch.nn.Linear) and model.head.weight.shape == head.weight.shape:
        with torch.no_grad():  # a task of N classes starts where the practice left off (a solved head re-solves)
            model.head.weight.copy_(head.weight)
            model.head.bias.copy_(head.bias)
    share = max(1, int(len(accuracies) * SUMMARY_SHARE))
    return {"meta_episodes": len(accuracies), "meta_first_acc": round(float(np.mean(accuracies[:share])), 4),
            "meta_last_acc": round(float(np.mean(accuracies[-share:])), 4)}


def practice_work(spec, options: dict) -> tuple[int, int]:
    """(pictures stepped on, pictures only checked) over every episode, for the time estimate: the inner
    steps on each task's support set, one pass over its query set."""
    episodes, ways, shots, steps = (spec.value(options, key) for key in ("episodes", "ways", "shots", "inner_steps"))
    return episodes * steps * ways * shots, episodes * ways * QUERIES_PER_CLASS


def body_identity(model: Classifier) -> str:
    """A hash of the body's weights after practice: its features are its own, never another run's."""
    digest = hashlib.sha256()
    for name, tensor in model.backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]

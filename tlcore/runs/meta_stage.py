"""A meta-learning run's stage before its phases: the meta-sources checked and loaded, Reptile over
their episodes, its progress recorded in the run folder ("meta" events, the status's stage).

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

from tlcore import runs
from tlcore.data.batches import to_model_input
from tlcore.data.decoding import load_sample_arrays
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError
from tlcore.data.scan import scan
from tlcore.models.classifier import Classifier
from tlcore.runs.recorder import StatusWriter
from tlcore.training.meta_learning import MetaSettings, Pool, check_pools, meta_train

STAGE = "meta-training"
EVENT_INTERVAL_S = 0.5
SUMMARY_SHARE = 0.1  # first and last tenth of the episodes: how well the start adapted, before and after


def source_names(paths: list[str]) -> list[str]:
    """A name per meta-source for messages: its folder's name, with the folder above where two share one."""
    names = [Path(p).name or p for p in paths]
    return [f"{Path(p).parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)]


def load_pools(config, cache: ImageCache, settings: MetaSettings, progress) -> list[Pool]:
    """Each meta-source's pictures, every split together; refused in words before any training.

    Args:
        progress: a scan's progress callback (done, total), raising StopRequested on a cancel.
    """
    manifests = {}
    for path, name in zip(config.meta_sources, source_names(config.meta_sources)):
        if not Path(path).expanduser().exists():
            raise DataError(f"The meta-learning source '{path}' does not exist (any more).")
        try:
            manifests[name] = scan(path, cache=cache, image_size=config.image_size,
                                                val_fraction=config.val_fraction, seed=config.seed,
                                                on_progress=progress)
        except DataError as error:
            raise DataError(f"The meta-learning source '{name}' cannot be used: {error}") from None
    check_pools({name: {cls: sum(per.values()) for cls, per in m.counts().items()} for name, m in manifests.items()},
                settings.ways, settings.shots)
    return [Pool(name, m.classes, *load_sample_arrays(m.samples, cache, config.image_size))
            for name, m in manifests.items()]


def meta_training(run_dir: Path, model: Classifier, config, settings: MetaSettings, pools: list[Pool],
                  device: torch.device, status: StatusWriter, should_stop) -> dict:
    """Reptile on the model's last body stage; the head takes the meta-learned start when the classes fit.

    Returns:
        The status fields that sum it up: episodes, query accuracy over the first and last tenth.
    """
    spec = model.backbone.spec
    accuracies: list[float] = []
    last_event = [0.0]
    status.update(stage={"name": STAGE, "done": 0, "total": settings.episodes})

    def on_episode(done: int, query_acc: float, loss: float) -> None:
        accuracies.append(query_acc)
        now = time.monotonic()
        if done < settings.episodes and now - last_event[0] < EVENT_INTERVAL_S:
            return
        last_event[0] = now
        window = accuracies[-max(1, int(len(accuracies) * SUMMARY_SHARE)):]
        runs.append_event(run_dir, {"type": "meta", "time": time.time(), "episode": done,
                                    "episodes": settings.episodes, "ways": settings.ways, "query_acc": round(query_acc, 4),
                                    "recent_query_acc": round(float(np.mean(window)), 4), "loss": round(loss, 4)})
        status.update(stage={"name": STAGE, "done": done, "total": settings.episodes,
                             "query_acc": round(float(np.mean(window)), 4)})

    def prepare(images: np.ndarray) -> torch.Tensor:
        return to_model_input(torch.from_numpy(images), spec.mean, spec.std, device)

    head = meta_train(model.backbone, model.backbone.stages()[-1], spec.feature_dim, pools, settings,
                      prepare=prepare, rng=np.random.default_rng(config.seed), should_stop=should_stop,
                      on_episode=on_episode)
    if isinstance(model.head, torch.nn.Linear) and model.head.weight.shape == head.weight.shape:
        with torch.no_grad():  # a task of N classes starts where the practice left off (a solved head re-solves)
            model.head.weight.copy_(head.weight)
            model.head.bias.copy_(head.bias)
    share = max(1, int(len(accuracies) * SUMMARY_SHARE))
    return {"meta_episodes": len(accuracies), "meta_first_acc": round(float(np.mean(accuracies[:share])), 4),
            "meta_last_acc": round(float(np.mean(accuracies[-share:])), 4)}


def body_identity(model: Classifier) -> str:
    """A hash of the body's weights after meta-training: its features are its own, never another run's."""
    digest = hashlib.sha256()
    for name, tensor in model.backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]

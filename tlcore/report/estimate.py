"""How long a run would take here: the work a strategy does, counted at the machine's measured rates.

The rates come from a short real measurement (tlcore.report.throughput, kept per machine). The
estimate counts the images a strategy pushes through the network, the steps of a strategy that
pulls its weights toward their start, the practice before its phases, and, for a run started while
others train or wait on the same device, the wait before it starts (wait_to_start).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.people.person import LOCAL, Person
# The measurement's names stay importable from here: pages and the CLI ask the estimate for both.
from tlcore.report.throughput import (MEASUREMENTS_FILE, Throughput, measure_throughput,  # noqa: F401
                                      recall_or_measure, recalled_throughput)
from tlcore.training.passes import PRECISE_NORM_IMAGES
from tlcore.training.strategies import get_strategy

WORKER_STARTUP_S = 6.0  # a worker process imports torch and loads weights before its first batch
HEAD_EPOCH_S = 0.05  # an epoch of a linear head on cached features, per 1,000 images


def estimate_seconds(throughput: Throughput, strategy: str, *, epochs: int, train_images: int,
                     val_images: int, head_epochs: int = 0, target_images: int = 0,
                     options: dict | None = None, joint: bool = False, augment_views: int = 0,
                     tta: bool = False, batch_size: int = RunConfig.batch_size,
                     features_cached: bool = False) -> float:
    """Seconds a run would take, from a measured throughput and the images its strategy processes.

    What a strategy processes comes from its registry entry: a feature pass, head epochs on
    features, body epochs (each extra stream adds a training pass of its own), BatchNorm statistics.

    Args:
        throughput: from measure_throughput (with train rates for strategies that train the body).
        strategy: a registered strategy's name.
        epochs: the run's epochs (after the head warm-up, for a strategy that has one).
        train_images, val_images: the dataset's split sizes.
        head_epochs: warm-up epochs on cached features, for a strategy that has them.
        target_images: pictures from where the model will be used, checked every epoch.
        options: the strategy's own settings (meta-learning's episodes are work before the phases).
        joint: a second dataset trains at the same time, a batch of it with each batch of the run's own.
        augment_views: varied copies of each training picture described on top (a pass each, and as many
            more pictures in each round on features).
        tta: each held-out picture is checked with its mirror image too.
        batch_size: pictures per training step (a strategy that pulls its weights pays once per step).
        features_cached: the network's descriptions of these pictures are in the cache already (another run
            made them): no feature pass.

    Returns:
        The estimate, worker start-up included; an upper bound where features are cached already.
    """
    plan = get_strategy(strategy)  # an unknown name raises ValueError here
    held_out = val_images + target_images
    all_images = train_images + held_out
    head_s = HEAD_EPOCH_S * (all_images + augment_views * train_images) / 1000
    feature_pass = not features_cached and (not plan.trains_body or (plan.warm_up and head_epochs > 0))
    described = all_images + augment_views * train_images + (held_out if tta else 0)
    work = feature_pass_s(throughput, described) if feature_pass else 0.0
    if not plan.trains_body:
        return round(WORKER_STARTUP_S + throughput.build_s + work + epochs * head_s, 1)
    if throughput.train_images_per_s is None:
        raise ValueError(f"Estimating '{strategy}' needs a measurement of training steps.")
    validation_rate = throughput.val_images_per_s or throughput.eval_images_per_s
    streams = 1 + len(plan.streams) + joint
    epoch_s = streams * train_images / throughput.train_images_per_s + (1 + tta) * held_out / validation_rate
    if plan.trains_norm_stats:  # BatchNorm statistics are re-averaged every epoch
        epoch_s += min(train_images, PRECISE_NORM_IMAGES) / validation_rate
    if plan.pulls_weights:  # a pass over every weight per step, whatever the pictures' size
        epoch_s += math.ceil(train_images / batch_size) * (throughput.pull_s or 0.0)
    if plan.warm_up:
        work += head_epochs * head_s
    work += practice_seconds(throughput, plan, options or {})
    return round(WORKER_STARTUP_S + throughput.build_s + work + epochs * epoch_s, 1)


def wait_to_start(config: RunConfig, owner: Person = LOCAL,
                  runs_dir: str | Path | None = None) -> tuple[int, float | None]:
    """(runs ahead, seconds until it would start) for a run queued now: runs take a device one at a time,
    so a run started while others train or wait begins after them (their time from the queue's own
    estimate, dispatch.queue_waits). (0, 0.0) on a free device; the seconds are None while some run ahead
    has nothing measured to go by.

    Args:
        owner: the person it is for (turns are taken across people in class mode).
    """
    from tlcore.runs.store.listing import RunSummary, list_runs  # the store, read only when asked
    from tlcore.runs.supervision.dispatch import device_slots, queue_waits

    summaries = list_runs(runs_dir, with_notes=False)
    new = RunSummary("(this run)", Path(), config, {"state": "queued", "created_at": time.time()},
                     owner=owner.key)
    place, starts_in = queue_waits([*summaries, new]).get(new.run_id, (1, 0.0))
    slots = device_slots(config)
    training = sum(1 for s in summaries if s.state == "running" and device_slots(s.config) & slots)
    return place - 1 + training, starts_in


def feature_pass_s(throughput: Throughput, images: int) -> float:
    """Seconds to describe this many pictures with the network (the embedding pass)."""
    return images / throughput.eval_images_per_s


def practice_seconds(throughput: Throughput, plan, options: dict) -> float:
    """Work a strategy does before its phases (meta-learning's episodes), as its spec counts it: pictures
    stepped on, at the measured rate of a step that trains the last stage only (else the whole body's
    training rate, an upper bound), and pictures only checked."""
    stepped, checked = plan.practice_work(options)
    if not stepped and not checked:
        return 0.0
    return stepped / (throughput.practice_images_per_s or throughput.train_images_per_s) + \
        checked / (throughput.val_images_per_s or throughput.eval_images_per_s)

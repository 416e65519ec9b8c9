"""How long a run would take here: a short real measurement of a backbone on this device.

The measurement times a few batches of random images through the backbone (forward only, and
forward + backward + optimizer step when the strategy trains the body) at the run's image size,
the way the worker runs it (channels_last, mixed precision on CUDA). The estimate then counts the
images a strategy pushes through the network.
"""
from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tlcore import paths
from tlcore.models.backbones import get_spec
from tlcore.models.weights import create_backbone
from tlcore.device import configure_cpu_threads, describe_device, resolve_device
from tlcore.models.folding import fold_batchnorm
from tlcore.data.batches import inference_batch_size
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.training.strategies import get_strategy
from tlcore.models.heads import create_head
from tlcore.training.loop import StepModule, autocast_for, training_step
from tlcore.training.passes import PRECISE_NORM_IMAGES
from tlcore.training.phases import Phase

WORKER_STARTUP_S = 6.0  # a worker process imports torch and loads weights before its first batch
HEAD_EPOCH_S = 0.05  # an epoch of a linear head on cached features, per 1,000 images
MEASUREMENTS_FILE = "throughputs.json"
# How a measurement is taken; a new method makes the figures kept from the old one stale.
MEASUREMENT_METHOD = "folded forward in inference batches; unfolded validation; training steps at batch 16"


@dataclass(frozen=True)
class Throughput:
    """Images per second of one backbone at one image size on one device, as measured."""

    backbone: str
    image_size: int
    device_label: str
    eval_images_per_s: float  # forward only, BatchNorm folded: the embedding pass
    train_images_per_s: float | None  # forward + backward + step; None when not measured
    build_s: float  # building the network, a stand-in for loading it in the worker
    val_images_per_s: float | None = None  # forward only, unfolded: validation while the body trains


def measure_throughput(backbone: str, image_size: int, device: str = "auto", *, train: bool = True,
                       batch_size: int = 16, batches: int = 2, budget_s: float = 4.0) -> Throughput:
    """Time a few batches of random images through a backbone (random weights: speed is the same).

    Args:
        backbone: a registered backbone name.
        image_size: side of the square input (a backbone with a fixed size uses its own).
        device: "auto", "cpu", "cuda", ...
        train: also time training steps through the whole network.
        batch_size: images per timed training batch (forward-only batches take the engine's own size).
        batches: timed batches per mode, after one warm-up batch; fewer when one takes longer than budget_s.
        budget_s: stop timing a mode once this much time was spent on it.

    Returns:
        The throughput. Raises ValueError for an unknown backbone or an unusable device.
    """
    configure_cpu_threads()
    target = resolve_device(device)
    size = get_spec(backbone).fixed_image_size or image_size
    started = time.perf_counter()
    model = create_backbone(backbone, pretrained=False).to(target, memory_format=torch.channels_last)
    build_s = time.perf_counter() - started
    x = torch.rand(batch_size, 3, size, size, device=target).contiguous(memory_format=torch.channels_last)
    autocast, _ = autocast_for(target)

    # Forward passes as compute_embeddings and validation run them: BatchNorm folded, their batch size.
    model.eval()
    frozen = fold_batchnorm(model, x[:2])
    eval_batch = torch.rand(inference_batch_size(size, target), 3, size, size, device=target)
    eval_batch = eval_batch.contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.inference_mode(), autocast:
            frozen(eval_batch)

    eval_ips = len(eval_batch) / _seconds_per_batch(forward, target, batches, budget_s)
    train_ips = val_ips = None
    if train:
        def validate():  # the training model itself, BatchNorm unfolded: its weights change every epoch
            with torch.inference_mode(), autocast:
                model(eval_batch)

        val_ips = len(eval_batch) / _seconds_per_batch(validate, target, batches, budget_s)
        model.train()
        head = create_head("linear", model.spec.feature_dim, 10).to(target)
        # The step the training loop runs, on a phase that trains the whole body.
        phase = Phase("body", 1, "images", model, head, [{"params": [*model.parameters(), *head.parameters()],
                                                          "lr": 1e-4}])
        optimizer = torch.optim.AdamW(phase.param_groups)
        module = StepModule(phase)
        _, scaler = autocast_for(target)
        labels = torch.zeros(batch_size, dtype=torch.long, device=target)

        def step():
            training_step(module, x, labels, {}, optimizer, scaler, progress=0.0, autocast=autocast)

        train_ips = batch_size / _seconds_per_batch(step, target, batches, budget_s)
    return Throughput(backbone, size, describe_device(target)["label"], round(eval_ips, 1),
                      round(train_ips, 1) if train_ips else None, round(build_s, 2),
                      round(val_ips, 1) if val_ips else None)


def recalled_throughput(backbone: str, image_size: int, device: str = "auto", *, train: bool = True,
                        store: str | Path | None = None) -> Throughput | None:
    """The throughput measured earlier on this machine (see recall_or_measure), or None."""
    remembered = _kept_measurements(_store_path(store)).get(_measurement_key(backbone, image_size, device, train))
    try:
        return Throughput(**remembered) if isinstance(remembered, dict) else None
    except TypeError:  # written by another version, or damaged: measure again
        return None


def recall_or_measure(backbone: str, image_size: int, device: str = "auto", *, train: bool = True,
                      remember: bool = True, store: str | Path | None = None) -> Throughput:
    """A throughput measured earlier on this machine, else measured now (and remembered).

    Speed depends on the machine, the device, the thread count and the torch build, not on the
    data, so each (backbone, image size, mode) is measured once per machine and kept in the cache
    folder, where a restart or another session finds it.

    Args:
        backbone, image_size, device, train: as for measure_throughput.
        remember: keep a new measurement. False while a run loads the device: the figure would be
            too slow, and stay so.
        store: the measurements file (default: ``throughputs.json`` in the cache folder).

    Returns:
        The throughput. Raises ValueError for an unknown backbone or an unusable device.
    """
    found = recalled_throughput(backbone, image_size, device, train=train, store=store)
    if found is not None:
        return found
    measured = measure_throughput(backbone, image_size, device, train=train)
    if remember:
        path = _store_path(store)
        key = _measurement_key(backbone, image_size, device, train)
        try:
            write_json_atomic(path, {**_kept_measurements(path), key: asdict(measured)})
        except OSError:
            pass  # not kept (a full disk, a read-only cache): measured again next time, no harm done
    return measured


def estimate_seconds(throughput: Throughput, strategy: str, *, epochs: int, train_images: int,
                     val_images: int, head_epochs: int = 0, target_images: int = 0,
                     options: dict | None = None, joint: bool = False, augment_views: int = 0,
                     tta: bool = False) -> float:
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

    Returns:
        The estimate, worker start-up included; an upper bound where features are cached already.
    """
    plan = get_strategy(strategy)  # an unknown name raises ValueError here
    held_out = val_images + target_images
    all_images = train_images + held_out
    head_s = HEAD_EPOCH_S * (all_images + augment_views * train_images) / 1000
    feature_pass = not plan.trains_body or (plan.warm_up and head_epochs > 0)
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
    if plan.warm_up:
        work += head_epochs * head_s
    work += practice_seconds(throughput, plan, options or {})
    return round(WORKER_STARTUP_S + throughput.build_s + work + epochs * epoch_s, 1)


def feature_pass_s(throughput: Throughput, images: int) -> float:
    """Seconds to describe this many pictures with the network (the embedding pass)."""
    return images / throughput.eval_images_per_s


def practice_seconds(throughput: Throughput, plan, options: dict) -> float:
    """Work a strategy does before its phases (meta-learning's episodes), as its spec counts it: pictures
    stepped on, timed at the whole body's training rate though only the last stage trains (an upper
    bound), and pictures only checked."""
    stepped, checked = plan.practice_work(options)
    if not stepped and not checked:
        return 0.0
    return stepped / throughput.train_images_per_s + \
        checked / (throughput.val_images_per_s or throughput.eval_images_per_s)


def _kept_measurements(path: Path) -> dict:
    """The measurements file's contents; empty when it is missing or not a mapping (damaged)."""
    kept = read_json(path, {})
    return kept if isinstance(kept, dict) else {}


def _store_path(store: str | Path | None) -> Path:
    return Path(store) if store else paths.cache_dir() / MEASUREMENTS_FILE


def _measurement_key(backbone: str, image_size: int, device: str, train: bool) -> str:
    size = get_spec(backbone).fixed_image_size or image_size
    return " | ".join([_machine_identity(device), backbone, f"{size} px", "train" if train else "eval"])


@functools.lru_cache(maxsize=8)
def _machine_identity(device: str) -> str:
    """What a speed depends on besides the network: processor or GPU, threads, torch, the method."""
    configure_cpu_threads()  # the label names the thread count the worker will use
    info = describe_device(resolve_device(device))
    return " | ".join([info["name"], info["label"], f"torch {torch.__version__}", MEASUREMENT_METHOD])


def _seconds_per_batch(run_batch, device: torch.device, batches: int, budget_s: float) -> float:
    run_batch()  # warm-up: first calls allocate and pick kernels
    _synchronize(device)
    timings = []
    while len(timings) < max(1, batches) and sum(timings) < budget_s:
        started = time.perf_counter()
        run_batch()
        _synchronize(device)
        timings.append(time.perf_counter() - started)
    return sum(timings) / len(timings)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()

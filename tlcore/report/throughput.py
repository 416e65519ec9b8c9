"""How fast a network runs here: a short real measurement of a backbone on this device, kept per machine.

The measurement times a few batches of random images through the backbone (forward only, and
forward + backward + optimizer step when the strategy trains the body) at the run's image size,
the way the worker runs it (channels_last, mixed precision on CUDA, pictures prepared and varied
from their stored bytes); one pull of every weight toward its starting value, which L2-SP adds to
each step; and meta-learning's inner step, which trains the last stage only. The arithmetic over
these rates is tlcore.report.estimate's.
"""
from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tlcore import paths
from tlcore.data.batches import augment, inference_batch_size, to_model_input
from tlcore.device import configure_cpu_threads, describe_device, resolve_device
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.models.backbones import get_spec
from tlcore.models.folding import fold_batchnorm
from tlcore.models.heads import create_head
from tlcore.models.weights import create_backbone
from tlcore.training.loop import StepModule, autocast_for, training_step
from tlcore.training.meta_learning import adapt
from tlcore.training.phases import Phase
from tlcore.training.terms import L2SPPenalty

MEASUREMENTS_FILE = "throughputs.json"
# How a measurement is taken; a new method makes the figures kept from the old one stale.
MEASUREMENT_METHOD = ("folded forward in inference batches; unfolded validation; training steps at batch 16 from "
                      "stored bytes, prepared and varied; a pull toward the starting weights; practice steps")


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
    # One pull of every weight toward its starting value, forward and backward (L2-SP's penalty, once a
    # step): a few hundred small operations over every weight, whatever the pictures' size (measured: 2-7%
    # of MobileNetV2's step at 64-128 px on 2 CPU cores).
    pull_s: float | None = None
    # A step that trains only the body's last stage and a new head, the rest frozen: meta-learning's inner
    # steps. At 64 px it ran four times the whole body's training rate (the frozen stages need no backward).
    practice_images_per_s: float | None = None


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
    train_ips = val_ips = pull_s = practice_ips = None
    if train:
        def validate():  # the training model itself, BatchNorm unfolded: its weights change every epoch
            with torch.inference_mode(), autocast:
                model(eval_batch)

        val_ips = len(eval_batch) / _seconds_per_batch(validate, target, batches, budget_s)
        train_ips, pull_s = _time_training(model, size, target, batch_size, batches, budget_s)
        practice_ips = _time_practice(model, size, target, batch_size, batches, budget_s)
    return Throughput(backbone, size, describe_device(target)["label"], round(eval_ips, 1),
                      round(train_ips, 1) if train_ips else None, round(build_s, 2),
                      round(val_ips, 1) if val_ips else None, round(pull_s, 4) if pull_s else None,
                      round(practice_ips, 1) if practice_ips else None)


def _time_training(model, size: int, device: torch.device, batch_size: int, batches: int,
                   budget_s: float) -> tuple[float, float]:
    """(images per second of the loop's training step through the whole body, seconds of one pull of every
    weight toward its start). The step starts from stored bytes, as the loop's does: preparing the
    pictures and their random crops and flips are part of what a step costs."""
    model.train()
    head = create_head("linear", model.spec.feature_dim, 10).to(device)
    # The step the training loop runs, on a phase that trains the whole body.
    phase = Phase("body", 1, "images", model, head, [{"params": [*model.parameters(), *head.parameters()],
                                                      "lr": 1e-4}])
    optimizer = torch.optim.AdamW(phase.param_groups)
    module = StepModule(phase)
    autocast, scaler = autocast_for(device)
    stored = torch.randint(0, 256, (batch_size, size, size, 3), dtype=torch.uint8)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    variety = torch.Generator().manual_seed(0)

    def step():
        x = augment(to_model_input(stored, model.spec.mean, model.spec.std, device), variety)
        training_step(module, x, labels, {}, optimizer, scaler, progress=0.0, autocast=autocast)

    train_ips = batch_size / _seconds_per_batch(step, device, batches, budget_s)
    pull = L2SPPenalty(list(model.parameters()), list(head.parameters()), alpha=0.1, beta=0.01)

    def pull_once():
        with autocast:
            loss = pull().loss
        loss.backward()

    return train_ips, _seconds_per_batch(pull_once, device, batches, budget_s)


def _time_practice(model, size: int, device: torch.device, batch_size: int, batches: int, budget_s: float) -> float:
    """Images per second of meta-learning's inner step (its own adapt()): the whole body forward, in eval mode,
    and only its last stage and an N-way head trained."""
    head = torch.nn.Linear(model.spec.feature_dim, 5).to(device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trained = [*model.stages()[-1].parameters(), *head.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    learner = torch.nn.Sequential(model, head).eval()
    x = to_model_input(torch.randint(0, 256, (batch_size, size, size, 3), dtype=torch.uint8), model.spec.mean,
                       model.spec.std, device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    return batch_size / _seconds_per_batch(lambda: adapt(learner, trained, x, labels, steps=1, lr=1e-3), device,
                                           batches, budget_s)


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

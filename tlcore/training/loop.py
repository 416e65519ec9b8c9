"""The training loop: one loop for every strategy, plain functions, no IO inside.

fit() walks a strategy's phases (fit_phase); each epoch is train_one_epoch() + evaluate(). Events go
out through the run's event list (tlcore.training.events: on_fit_start, on_phase_start, on_batch_end,
on_epoch_end, on_fit_end); a should_stop() flag comes in and is checked every batch, training and
validation alike.
"""
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tlcore.data.batches import ArrayBatches
from tlcore.training.metrics import accuracy, confusion_matrix, per_class_scores
from tlcore.training.phase_inputs import PhaseData, StopRequested, TrainingFailed, autocast_for
from tlcore.training.passes import fit_computed_head, recompute_norm_statistics, solve_head
from tlcore.training.optimizers import make_optimizer, rate_schedule
from tlcore.training.phases import Phase
from tlcore.training.distributed import SINGLE, World
from tlcore.training.events import call, check_listeners
from tlcore.training.kept_state import KeptState
from tlcore.training.terms import Step

@dataclass
class FitResult:
    best_val_acc: float = 0.0
    best_epoch: int = 0
    final_val_acc: float = 0.0
    epochs_run: int = 0
    stopped_early: bool = False  # the last phase ended before its rounds were done (a warm-up's stop does not count)
    # Training throughput per kind of input: a step on cached features is a hundred times cheaper
    # than one through the backbone, so mixing them would flatter a fine-tune's figure.
    images_by_inputs: dict = field(default_factory=dict)
    seconds_by_inputs: dict = field(default_factory=dict)
    best_state: dict | None = field(default=None, repr=False)
    best_phase: str = ""  # the phase the kept model comes from ("head": a warm-up, not a fine-tuned body)
    # Accuracy on each held-out check set (a labelled target): of the kept model, and at the last epoch.
    best_checks: dict = field(default_factory=dict)
    final_checks: dict = field(default_factory=dict)
    # The kept model's class probabilities for each validation picture, in the validation set's order.
    best_probabilities: np.ndarray | None = field(default=None, repr=False)

    @property
    def train_images_per_s(self) -> float:
        """Images/s of the phases that ran images through the backbone, else of the feature phases."""
        kind = "images" if "images" in self.images_by_inputs else "embeddings"
        seconds = self.seconds_by_inputs.get(kind, 0.0)
        return self.images_by_inputs.get(kind, 0) / seconds if seconds else 0.0


class StepModule(nn.Module):
    """A phase's training forward as one module: the class loss plus the phase's terms.

    One module, so that DistributedDataParallel can wrap it when several processes train the run:
    its gradients are then averaged over the processes during the backward pass.
    """

    def __init__(self, phase: Phase):
        super().__init__()
        self.body, self.head, self.terms = phase.body, phase.head, nn.ModuleList(phase.terms)

    def forward(self, x, y, streams: dict, progress: float, stream_labels: dict):
        figures = {}
        features = self.body(x)
        logits = self.head(features)
        loss = F.cross_entropy(logits.float(), y)
        if len(self.terms):
            step = Step(features, logits, y, streams, progress, self.body, stream_labels)
            for term in self.terms:
                output = term(step)
                loss = loss + output.loss.to(loss.device)
                figures.update(output.figures)
        return loss, logits, figures


def step_module(phase: Phase, world: World, device: torch.device) -> nn.Module:
    """The phase's StepModule; wrapped in DistributedDataParallel when several processes train."""
    module = StepModule(phase)
    if not world.active:
        return module
    # Constructing it gives every process rank 0's weights; its backward averages the gradients.
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def training_step(module: nn.Module, x: torch.Tensor, y: torch.Tensor, streams: dict[str, torch.Tensor],
                  optimizer, scaler, *, progress: float, autocast,
                  stream_labels: dict[str, torch.Tensor] | None = None,
                  world: World = SINGLE) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """One optimizer step of a phase (module: its step_module). The estimate times this too.

    Returns:
        The total loss (detached), the logits, and each term's figures for this step. A loss that is not
        finite on any process is returned without a step on every process.
    """
    with autocast:
        loss, logits, figures = module(x, y, streams, progress, stream_labels or {})
    # Every process steps or none does (a lone backward would wait for the others' gradients): a loss
    # gone wrong on any process is returned as not finite on every one, and the run fails everywhere.
    if world.any(not bool(torch.isfinite(loss))):
        return (loss.detach() if not torch.isfinite(loss) else torch.tensor(float("nan"))), logits, figures
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach(), logits, figures


def endless(batches: ArrayBatches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """A stream's batches, reshuffled each time round. A stream whose labels must stay unseen (the
    target's) carries zeros in their place: the worker keeps its labels back."""
    for _ in itertools.count():
        yield from batches


def train_one_epoch(phase: Phase, data: PhaseData, optimizer, scheduler, *, device, epoch: int,
                    should_stop, on_batch, streams: dict[str, Iterator], step_offset: int = 0,
                    total_steps: int = 1, world: World = SINGLE, module: nn.Module | None = None) -> dict:
    """One pass over the training batches. Returns mean loss, accuracy, images, seconds and term figures
    (over every process's share: the images are those of the whole run)."""
    module = module if module is not None else StepModule(phase)
    autocast, scaler = autocast_for(device)
    total_loss = correct = seen = 0
    sums: dict[str, list[float]] = {}
    start = time.perf_counter()
    for step, (raw, y) in enumerate(data.train, start=1):
        if world.any(should_stop()):  # all processes stop at the same step
            raise StopRequested()
        x = data.prepare(raw, True)
        y = y.to(device, non_blocking=True)
        drawn = {name: next(stream) for name, stream in streams.items()}
        extra = {name: data.prepare(pictures, True) for name, (pictures, _) in drawn.items()}
        extra_labels = {name: labels.to(device, non_blocking=True) for name, (_, labels) in drawn.items()}
        progress = (step_offset + step - 1) / max(total_steps - 1, 1)
        loss, logits, figures = training_step(module, x, y, extra, optimizer, scaler, progress=progress,
                                              autocast=autocast, stream_labels=extra_labels, world=world)
        if not torch.isfinite(loss):
            raise TrainingFailed(f"The loss became {loss.item()} at epoch {epoch}, step {step}. "
                                 "Try a lower learning rate.")
        scheduler.step()
        batch_loss = loss.item()
        total_loss += batch_loss * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        for name, (value, count) in figures.items():
            total = sums.setdefault(name, [0.0, 0])
            total[0] += value
            total[1] += count
        on_batch(step=step, steps=len(data.train), loss=batch_loss)
    seconds = time.perf_counter() - start
    total_loss, correct, seen = world.sum([total_loss, correct, seen])
    stats = {"train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
             "images": seen, "seconds": seconds}
    stats.update({name: value / max(count, 1) for name, (value, count) in sums.items()})
    return stats


@torch.inference_mode()
def evaluate(module, data: PhaseData, *, device, num_classes: int, should_stop=lambda: False,
             batches: ArrayBatches | None = None, prefix: str = "val", world: World = SINGLE) -> dict:
    """Loss, accuracy and confusion matrix on held-out batches, with ``module`` in eval mode.

    Eval mode matters for every phase that trains BatchNorm (scratch): in train mode validation
    would normalize with each batch's own statistics and fold the validation images into the
    running ones. The caller puts the training modes back (set_phase_modes).

    Args:
        batches: the held-out set (default: the phase's validation batches).
        prefix: names the figures: "val" gives val_loss, val_acc, confusion and per_class; any
            other prefix gives {prefix}_loss, {prefix}_acc, {prefix}_confusion and {prefix}_per_class.
            {prefix}_probabilities holds each picture's class probabilities (float32 [N, C]), in order.
        world: with several processes each goes through its block of the set; the blocks are gathered
            once at the end, so every figure counts each held-out picture exactly once.
    """
    module.eval()
    autocast, _ = autocast_for(device)
    total_loss = 0.0
    targets, probabilities = [], []
    held_out = data.val if batches is None else batches
    mirrors = data.mirrored.get(prefix) if data.tta else None
    pairs = zip(held_out, mirrors if mirrors is not None else itertools.repeat(None))
    # As many rounds on every process, though their blocks may hold one batch more or less: each round
    # agrees on a cancel (a big validation set takes as long as training, a cancel must not wait for it).
    rounds = world.max(len(held_out))
    for _, pair in zip(range(rounds), itertools.chain(pairs, itertools.repeat(None))):
        if world.any(should_stop()):
            raise StopRequested()
        if pair is None:
            continue  # this process's block is done; the others' are not
        (raw, y), mirror = pair
        x = data.prepare(raw, False)
        y = y.to(device)
        with autocast:
            probs = torch.softmax(module(x).float(), 1)
            if data.tta and (mirror is not None or x.dim() == 4):  # the mirror's features, or the picture mirrored
                mirrored = data.prepare(mirror[0], False) if mirror is not None else torch.flip(x, dims=[3])
                probs = (probs + torch.softmax(module(mirrored).float(), 1)) / 2
        total_loss += F.nll_loss(probs.clamp_min(1e-12).log(), y, reduction="sum").item()
        targets.append(y.cpu())
        probabilities.append(probs.cpu())
    targets = world.gather_rows(torch.cat(targets).numpy() if targets else np.zeros(0, dtype=np.int64))
    probabilities = world.gather_rows(torch.cat(probabilities).numpy() if probabilities
                                      else np.zeros((0, num_classes), dtype=np.float32))
    predictions = probabilities.argmax(1)
    total_loss, = world.sum([total_loss])
    confusion = confusion_matrix(targets, predictions, num_classes)
    table = "confusion" if prefix == "val" else f"{prefix}_confusion"
    scores = "per_class" if prefix == "val" else f"{prefix}_per_class"
    return {f"{prefix}_loss": total_loss / max(len(targets), 1), f"{prefix}_acc": accuracy(confusion),
            table: confusion.tolist(), scores: per_class_scores(confusion),
            f"{prefix}_probabilities": probabilities}


def set_phase_modes(model, phase: Phase) -> None:
    """Everything in eval mode (frozen BatchNorm keeps its statistics) except what this phase trains."""
    model.eval()
    for module in phase.train_modules:
        module.train()
    if phase.freeze_norm_stats:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def fit(model, phases: list[Phase], data_for: Callable[[Phase], PhaseData], *, device: torch.device,
        num_classes: int, callbacks=(), should_stop=lambda: False, early_stop_patience: int = 0,
        world: World = SINGLE) -> FitResult:
    """Train through the phases, keeping the weights of the best validation epoch.

    Args:
        data_for: builds a phase's data; called once per phase, so cached features are computed lazily.
        callbacks: listeners of the run's events (tlcore.training.events); on_fit_end always fires.
        early_stop_patience: end a phase after this many epochs without a better validation accuracy (0: never).
        world: the processes training this run together (data_for shares their batches); every process
            makes the same decisions from the same gathered figures.
    Returns:
        FitResult, with best_state the best epoch's state_dict (on the CPU).
    """
    callbacks = check_listeners(callbacks)
    result = FitResult(best_val_acc=-1.0)
    total_epochs = sum(p.epochs for p in phases)
    call(callbacks, "on_fit_start", phases=phases, total_epochs=total_epochs)
    outcome, error = "succeeded", None
    try:
        for index, phase in enumerate(phases):
            if phase.epochs:
                fit_phase(model, phase, index, data_for(phase), result, device=device, num_classes=num_classes,
                          callbacks=callbacks, should_stop=should_stop, early_stop_patience=early_stop_patience,
                          total_epochs=total_epochs, world=world)
    except StopRequested:
        outcome = "cancelled"
        raise
    except BaseException as exc:
        outcome, error = "failed", exc
        raise
    finally:
        result.best_val_acc = max(result.best_val_acc, 0.0)
        call(callbacks, "on_fit_end", result=result, outcome=outcome, error=error)
    return result


def fit_phase(model, phase: Phase, index: int, data: PhaseData, result: FitResult, *, device, num_classes: int,
              callbacks, should_stop, early_stop_patience: int, total_epochs: int, world: World) -> None:
    """One phase's epochs, each trained (or solved), checked and kept in result when it is the best so far."""
    set_phase_modes(model, phase)
    if hasattr(phase.head, "fit_to"):  # a head computed from the training features, then refined
        fit_computed_head(phase, data, should_stop=should_stop)
        world.same_as_first(phase.head)
    module = step_module(phase, world, device)
    optimizer = make_optimizer(phase)
    total_steps = max(1, phase.epochs * len(data.train))
    streams = {name: endless(data.streams[name]) for name in phase.streams}
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate_schedule(total_steps, phase.warmup))
    call(callbacks, "on_phase_start", phase=phase, index=index, steps_per_epoch=len(data.train),
         train_size=data.train.num_samples, val_size=data.val.num_samples)
    stale = 0
    first_epoch = result.epochs_run + 1
    result.stopped_early = False  # the next phase trains on: only how the last one ended is the run's
    kept = KeptState(model, phase)
    for _ in range(phase.epochs):
        epoch = result.epochs_run + 1

        def on_batch(**batch):
            call(callbacks, "on_batch_end", phase=phase, epoch=epoch, **batch)

        if phase.solved:  # every process solves on all the features; rank 0's solution is kept
            stats = solve_head(phase, data, should_stop=should_stop)
            world.same_as_first(phase.head)
        else:
            stats = train_one_epoch(phase, data, optimizer, scheduler, device=device, epoch=epoch,
                                    should_stop=should_stop, on_batch=on_batch, streams=streams,
                                    step_offset=(epoch - first_epoch) * len(data.train),
                                    total_steps=total_steps, world=world, module=module)
        probabilities = check_epoch(phase, data, stats, device=device, num_classes=num_classes,
                                    should_stop=should_stop, world=world)
        set_phase_modes(model, phase)
        improved = keep_epoch(kept, phase, epoch, stats, probabilities, result, checks=data.checks)
        stale = 0 if improved else stale + 1
        call(callbacks, "on_epoch_end", phase=phase, epoch=epoch, total_epochs=total_epochs,
             improved=improved, lr=optimizer.param_groups[0]["lr"], **stats)
        if early_stop_patience and stale >= early_stop_patience and epoch - first_epoch + 1 < phase.epochs:
            result.stopped_early = True
            break


def check_epoch(phase: Phase, data: PhaseData, stats: dict, *, device, num_classes: int, should_stop,
                world: World) -> np.ndarray:
    """Validation (and each check set) after an epoch, its figures added to stats; returns the validation
    pictures' probabilities, which go with the model, not with the figures."""
    if not phase.freeze_norm_stats:
        recompute_norm_statistics(phase.module, data, device=device, should_stop=should_stop)
        world.average_norm_statistics(phase.module)  # each process measured its own share
    stats.update(evaluate(phase.module, data, device=device, num_classes=num_classes,
                          should_stop=should_stop, world=world))
    for name, batches in data.checks.items():
        stats.update(evaluate(phase.module, data, device=device, num_classes=num_classes,
                              should_stop=should_stop, batches=batches, prefix=name, world=world))
        stats.pop(f"{name}_probabilities")
    return stats.pop("val_probabilities")


def keep_epoch(kept: KeptState, phase: Phase, epoch: int, stats: dict, probabilities: np.ndarray,
               result: FitResult, checks: dict) -> bool:
    """Count the epoch in result and keep its weights when it is the best yet (or the phase keeps the
    last); returns whether it was kept."""
    result.epochs_run = epoch
    kind = phase.inputs
    result.images_by_inputs[kind] = result.images_by_inputs.get(kind, 0) + stats["images"]
    result.seconds_by_inputs[kind] = result.seconds_by_inputs.get(kind, 0.0) + stats["seconds"]
    result.final_val_acc = stats["val_acc"]
    result.final_checks = {name: stats[f"{name}_acc"] for name in checks}
    improved = stats["val_acc"] > result.best_val_acc or phase.keeps_last
    if improved:
        result.best_val_acc, result.best_epoch, result.best_phase = stats["val_acc"], epoch, phase.name
        result.best_checks = dict(result.final_checks)
        result.best_state = kept.take()
        result.best_probabilities = probabilities
    return improved

"""Execute one run folder: data -> backbone + weights -> strategy -> loop, everything recorded on disk.

The CLI calls execute_run() in its own process; the app's runner starts
`python -m tlcore worker RUN_DIR`, which calls the same function.
"""
import functools
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from tlcore.jsonio import write_json_atomic
from tlcore.data.batches import should_balance
from tlcore import paths, runs
from tlcore.models.backbones import is_combined, member_names
from tlcore.config import ConfigError
from tlcore.data.manifest import Manifest, TargetSet
from tlcore.data.decoding import SamplePictures
from tlcore.data.scan import DataError, for_run, scan, scan_target
from tlcore.diskspace import require_free_space
from tlcore.errors import describe_os_error
from tlcore.device import configure_cpu_threads, describe_device, resolve_device
from tlcore.data.imagecache import ImageCache, content_key
from tlcore.models.classifier import checkpoint_bytes, create_classifier, save_checkpoint
from tlcore.runs.phase_data import make_phase_data, throttled, timed
from tlcore.runs.meta_stage import body_identity, load_pools, meta_training
from tlcore.runs.predictions import write_predictions
from tlcore.runs.recorder import HeldStatus, RunRecorder, StatusWriter
from tlcore.runs.sources import SourceRun, check_members, check_start, load_source_body
from tlcore.runs.store import TARGET_FILE
from tlcore.runs.launched import LAUNCHER_ENV, end_with_launcher
from tlcore.training.strategies import add_joint_task, check_config, meta_settings
from tlcore.training.terms import squared_distance
from tlcore.training.loop import StopRequested, TrainingFailed, fit
from tlcore.training import distributed
from tlcore.training.distributed import World
from tlcore.models.weights import WeightsUnavailable

# Errors whose message is already written for people; anything else is reported with its type.
EXPECTED_ERRORS = (DataError, ConfigError, WeightsUnavailable, TrainingFailed, ValueError, MemoryError)


class CancelFlag:
    """True once a cancel file appears in the run folder or the process gets SIGTERM/SIGINT.

    The loop polls it between batches. A second signal means the first went unheard (a step that
    takes minutes, weights being fetched; a person pressing Ctrl-C again): while the run's work is
    under way (``armed``), it raises StopRequested at once, wherever the worker is, so the run still
    ends as cancelled with its folder in order. Once the work is over, the final status is written
    whatever arrives.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.signalled = threading.Event()
        self.armed = False
        self.last_asked_at = time.time()  # the work loop asks once a batch: when it last did, the work moved
        self._last_check = 0.0
        self._requested = False

    @contextmanager
    def signal_handlers(self):
        """SIGTERM and SIGINT set the flag (and, the second time, stop the work) inside the block."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, *_) -> None:
        if self.signalled.is_set() and self.armed:
            raise StopRequested()
        self.signalled.set()

    def __call__(self) -> bool:
        self.last_asked_at = time.time()
        if self.signalled.is_set() or self._requested:
            return True
        now = time.monotonic()
        if now - self._last_check > 0.1:  # a stat per batch is cheap, but cached-feature batches take microseconds
            self._last_check = now
            self._requested = runs.cancel_requested(self.run_dir)
        return self._requested


def member_identities(config, members: list[SourceRun | None]) -> list[str]:
    """For networks combined, each member's weights_identity: its features are cached on their own."""
    return [weights_identity(config.replace(backbone=name, member_runs=[]), source)
            for name, source in zip(member_names(config.backbone), members)]


def weights_identity(config, source: SourceRun | None = None) -> str:
    """What makes two backbones' features the same: name, weights, and a user file's or a source run's contents."""
    if source is not None:
        return f"{config.backbone}:run:{source.identity()}"
    if not config.weights_file:
        return f"{config.backbone}:pretrained"
    return f"{config.backbone}:file:{content_key(config.weights_file)[:16]}"  # streamed: memory stays flat


def checked_manifest(run_dir: Path, config, cache: ImageCache, status: StatusWriter, should_stop, timings) -> Manifest:
    """The dataset as the person checked it on the Data page (it travels in the run folder), set up for
    this run's image size and validation draw; a dataset given by path alone (the CLI) is scanned now."""
    if (run_dir / runs.CHECKED_MANIFEST).is_file():
        checked = Manifest.load(run_dir / runs.CHECKED_MANIFEST)
        return for_run(checked, image_size=config.image_size, val_fraction=config.val_fraction, seed=config.seed)
    with timed(timings, "scan_s"):
        return scan(Path(config.data), cache=cache, image_size=config.image_size, val_fraction=config.val_fraction,
                    seed=config.seed, on_progress=progress_reporter(status, "scanning", should_stop))


def progress_reporter(status: StatusWriter, stage: str, should_stop):
    """A scan's progress callback: the stage's counts in the status, and a cancel honoured between files."""
    status.update(stage={"name": stage, "done": 0, "total": 0})
    report = throttled(lambda done, total: status.update(stage={"name": stage, "done": done, "total": total}))

    def progress(done: int, total: int) -> None:
        if should_stop():  # a big folder takes minutes to decode the first time
            raise StopRequested()
        report(done, total)
    return progress


def checked_target(run_dir: Path, config, manifest: Manifest, cache: ImageCache, status: StatusWriter,
                   should_stop, timings, writes: bool = True) -> TargetSet:
    """The target pictures, checked now and kept in the run folder (when this process writes it);
    refused when they are the training ones."""
    with timed(timings, "scan_s"):
        target = scan_target(Path(config.target), classes=manifest.classes, cache=cache, image_size=config.image_size,
                             on_progress=progress_reporter(status, "checking the target pictures", should_stop))
    if target.copies_training_pictures(manifest):
        raise DataError("Every target picture is also a training picture; choose pictures from where the model "
                        "will be used, not the training ones.")
    if not writes:
        return target
    write_json_atomic(run_dir / TARGET_FILE, target.to_dict())
    runs.append_event(run_dir, {"type": "target", "time": time.time(), "pictures": len(target.samples),
                                "labelled": len(target.labelled), "unknown_classes": target.unknown_classes,
                                "skipped": len(target.skipped)})
    return target


def draw_per_class(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Rows of up to per_class training pictures of each class, drawn with the seed (a class with fewer
    gives all it has), in their original order so the run's batches follow from its seed alone."""
    rng = np.random.default_rng(seed)
    rows = [rng.choice(np.flatnonzero(labels == c), min(per_class, int((labels == c).sum())), replace=False)
            for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


def joint_dataset(config, cache: ImageCache, status: StatusWriter, should_stop) -> Manifest:
    """The second labelled dataset of joint training, all its pictures; refused in words when unusable."""
    if not Path(config.joint_with).expanduser().exists():
        raise DataError(f"The second dataset for joint training, '{config.joint_with}', does not exist (any more).")
    try:
        joint = scan(config.joint_with, cache=cache, image_size=config.image_size, val_fraction=config.val_fraction,
                     seed=config.seed,
                     on_progress=progress_reporter(status, "checking the second dataset", should_stop))
    except DataError as error:
        raise DataError(f"The second dataset for joint training cannot be used: {error}") from None
    runs.append_event(Path(status.run_dir), {"type": "joint", "time": time.time(), "classes": joint.classes,
                                             "pictures": len(joint.samples)})
    return joint


@torch.no_grad()
def body_distance(model, start: list[torch.Tensor]) -> float:
    """||w - w0|| over the body's weights: how far training moved it from where it started."""
    return float(squared_distance(list(model.backbone.parameters()), start)) ** 0.5


def process_device(config, world: World) -> torch.device:
    """This process's device: the run's choice, and with several processes on GPUs its local rank's GPU."""
    device = resolve_device(config.device)
    if world.active and device.type == "cuda":
        count = torch.cuda.device_count()
        if world.local_rank >= count:
            raise ConfigError(f"This machine has {count} GPU{'s' * (count != 1)}, fewer than the "
                              f"{world.local_rank + 1} processes started on it; start one process per GPU.")
        device = torch.device("cuda", world.local_rank)
    return device


def _train(run_dir: Path, status: StatusWriter, should_stop, timings: dict, callbacks, world: World) -> dict:
    """The run's work, from its config to the saved model; returns the succeeded status fields.

    With several processes (world) each one runs this on its share of the pictures; rank 0 alone
    writes the run folder."""
    config = runs.load_config(run_dir)
    strategy = check_config(config.replace(processes=world.size))
    source = check_start(config)  # the run it starts from may have been deleted while this one waited
    members = check_members(config) if is_combined(config.backbone) else []
    configure_cpu_threads()
    device = process_device(config, world)
    distributed.join(world, device)
    status.update(device=describe_device(device), processes=world.size)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    cache = ImageCache(paths.cache_dir())
    manifest = checked_manifest(run_dir, config, cache, status, should_stop, timings)
    if world.writes:
        manifest.save(run_dir / "manifest.json")
        write_json_atomic(run_dir / "labels.json", manifest.classes)
        runs.append_event(run_dir, {"type": "dataset", "time": time.time(), "classes": manifest.classes,
                                    "counts": manifest.counts(), "skipped": len(manifest.skipped),
                                    "warnings": manifest.warnings})
    target = checked_target(run_dir, config, manifest, cache, status, should_stop, timings, world.writes) \
        if config.target else None
    with timed(timings, "load_arrays_s"):
        # Read from the image cache only when a phase needs the pixels (not when every feature is cached).
        pictures = {split: SamplePictures(manifest.split(split), cache, config.image_size)
                    for split in ("train", "val")}
        if target is not None:
            pictures["target"] = SamplePictures(target.samples, cache, config.image_size)
        fingerprints = {"train": manifest.fingerprint(), "val": manifest.fingerprint(),
                        "target": target.fingerprint() if target is not None else ""}
        datasets = {name: (fingerprints[name], found, found.labels) for name, found in pictures.items()}
        if config.joint_with:
            joint = joint_dataset(config, cache, status, should_stop)
            joint_pictures = SamplePictures(joint.samples, cache, config.image_size)
            datasets["joint"] = (joint.fingerprint(), joint_pictures, joint_pictures.labels)
    train_rows = draw_per_class(datasets["train"][2], config.train_per_class, config.seed) \
        if config.train_per_class else None
    if train_rows is not None and world.writes:
        runs.append_event(run_dir, {"type": "subset", "time": time.time(), "per_class": config.train_per_class,
                                    "pictures": len(train_rows)})
    practice = meta_settings(config) if "meta_sources" in strategy.needs else None
    if practice is not None:  # checked and loaded before the network, so a refusal costs nothing
        with timed(timings, "scan_s"):
            pools = load_pools(config, cache, practice,
                               progress_reporter(status, "checking the meta-learning pictures", should_stop))

    status.update(stage={"name": "loading backbone"})
    with timed(timings, "backbone_s"):
        # A run started from another takes that run's body; the registry's weights would be overwritten.
        model = create_classifier(config, len(manifest.classes),
                                  pretrained=strategy.pretrained and not config.init_from)
        if source is not None:
            load_source_body(model.backbone, source)
        for member, member_source in zip(getattr(model.backbone, "members", []), members):
            if member_source is not None:
                load_source_body(member, member_source)
        model = model.to(device, memory_format=torch.channels_last)
    summary = {}
    if practice is not None:
        with timed(timings, "meta_s"):
            summary = meta_training(run_dir, model, config, practice, pools, device, status, should_stop)
    # Kept on the CPU, and only where the body trains: ||w - w0|| is reported for those strategies (from
    # where training starts: after meta-learning's practice, which has its own figures).
    start = [p.detach().float().cpu().clone() for p in model.backbone.parameters()] if strategy.trains_body else []
    if practice is not None:
        practised = body_identity(model)  # its features are this body's own: never shared with another start
        weights = functools.cache(lambda: [f"{weights_identity(config, source)}:meta:{practised}"])
    elif members:
        weights = functools.cache(lambda: member_identities(config, members))
    else:
        weights = functools.cache(lambda: [weights_identity(config, source)])  # hashed once, and only if needed
    # Refused now rather than after the training it would have cost: the saved model's size.
    require_free_space(run_dir, checkpoint_bytes(model), "the trained model's files")
    if world.active and device.type == "cuda" and strategy.trains_norm_stats:
        # BatchNorm statistics that train are computed over every GPU's share of the batch (the same
        # parameter and buffer objects: the phases and the optimizer see the converted layers).
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    phases = strategy.plan(model, config)
    if "joint" in datasets:
        add_joint_task(phases, model.backbone.spec.feature_dim, len(joint.classes), device)
    status.update(stage={"name": "training"})

    trained_labels = datasets["train"][2] if train_rows is None else datasets["train"][2][train_rows]
    balanced = should_balance(trained_labels, config.balance)
    callbacks = [RunRecorder(run_dir, status), *callbacks] if world.writes else []  # rank 0 reports for all
    meters = [m for m in callbacks if hasattr(m, "on_features")]
    targets = len(datasets["target"][2]) if "target" in datasets else 0
    # The feature pass describes whole sets: all the training split (a run that learns from a draw of
    # it included), each varied copy of it, and with TTA the mirror images of the sets checked.
    whole = len(datasets["train"][2])
    extra_features = whole - len(trained_labels) + config.augment_views * whole + \
        (len(datasets["val"][2]) + targets if config.tta else 0)
    for meter in meters:
        meter.set_dataset_size(len(trained_labels), len(datasets["val"][2]), targets, extra_features=extra_features)
    with timed(timings, "fit_s"):
        result = fit(model, phases,
                     lambda phase: make_phase_data(phase, model=model, datasets=datasets, config=config,
                                                   weights=weights, device=device, status=status,
                                                   should_stop=should_stop,
                                                   generator=generator, timings=timings, meters=meters,
                                                   train_rows=train_rows, balanced=balanced, world=world),
                     device=device, num_classes=len(manifest.classes), callbacks=callbacks,
                     should_stop=should_stop, early_stop_patience=config.early_stop_patience, world=world)
    final_distance = body_distance(model, start) if strategy.trains_body else None
    model.load_state_dict(result.best_state)
    if world.writes:
        if result.best_probabilities is not None:
            write_predictions(run_dir, manifest.split("val"), manifest.classes, result.best_probabilities)
        save_checkpoint(run_dir / "model_best.pt", model, config, manifest.classes,
                        epoch=result.best_epoch, val_acc=result.best_val_acc)
    final = dict(state="succeeded", best_val_acc=round(result.best_val_acc, 5),
                 final_val_acc=round(result.final_val_acc, 5), best_epoch=result.best_epoch,
                 best_phase=result.best_phase, epochs_run=result.epochs_run, stopped_early=result.stopped_early,
                 train_images_per_s=round(result.train_images_per_s, 1), balanced=balanced)
    if strategy.trains_body:  # of the kept model, and of the last epoch's
        final.update(body_distance=round(body_distance(model, start), 4), final_body_distance=round(final_distance, 4))
    final.update(summary)
    if "target" in result.best_checks:
        final.update(best_target_acc=round(result.best_checks["target"], 5),
                     final_target_acc=round(result.final_checks["target"], 5))
    return final


def execute_run(run_dir: Path, callbacks=(), world: World | None = None) -> dict:
    """Train the run described by run_dir/config.json and record everything in run_dir.

    world: the processes training it together (default: as torchrun's environment says, else this one
    alone); each calls this, and rank 0 alone writes the run folder.
    Returns:
        The final status dict (state succeeded, failed or cancelled, with metrics or an error).
    """
    run_dir = Path(run_dir)
    world = world or distributed.world_from_env()
    started = time.perf_counter()
    should_stop = CancelFlag(run_dir)
    status = (StatusWriter if world.writes else HeldStatus)(run_dir, progress_clock=lambda: should_stop.last_asked_at)
    on_main_thread = threading.current_thread() is threading.main_thread()
    timings: dict[str, float] = {}  # seconds per stage; fit_s includes embedding_s (features are made lazily)
    # A run whose processes a launcher started names the launcher as its worker: it is what the runner
    # watches and stops (its processes end with it).
    launcher = os.environ.get(LAUNCHER_ENV) if world.active else None
    if launcher:
        end_with_launcher(int(launcher))
    with should_stop.signal_handlers() if on_main_thread else nullcontext():
        status.update(state="running", pid=int(launcher) if launcher else os.getpid(), started_at=time.time(),
                      error=None)
        status.start_heartbeat()
        try:
            should_stop.armed = True
            try:
                final = _train(run_dir, status, should_stop, timings, callbacks, world)
            finally:
                should_stop.armed = False  # from here on a signal cannot cut the final writes short
        except StopRequested:
            final = dict(state="cancelled", error=None)
        except Exception as exc:
            lost = distributed.peer_lost(exc) if world.active else None
            if lost is not None and should_stop():  # another process honoured the cancel first and left
                final = dict(state="cancelled", error=None)
            elif lost is not None:
                final = dict(state="failed", error=str(lost))
            elif isinstance(exc, EXPECTED_ERRORS):
                final = dict(state="failed", error=str(exc))
            elif isinstance(exc, OSError):  # the environment, not a bug: a missing weights file, a full disk
                final = dict(state="failed", error=describe_os_error(exc))
            else:  # a bug or a fault of the machine: details in the log, a sentence in the UI
                traceback.print_exc()
                final = dict(state="failed", error=f"Unexpected error ({type(exc).__name__}): {exc}")
        finally:
            status.stop_heartbeat()
            distributed.leave()
        final.update(ended_at=time.time(), wall_s=round(time.perf_counter() - started, 2), stage=None,
                     timings=timings)
        if world.writes:
            record_final(run_dir, status, final)
        else:
            status.update(**final)
    return status.status


def record_final(run_dir: Path, status: StatusWriter, final: dict) -> None:
    """Write how the run ended, even on a full disk: it must never read "running" for good."""
    try:
        status.update(**final)
    except OSError as error:  # even the in-place rewrite failed: the process's exit code still tells the runner
        status.status.update(final)
        print(f"The run's final status could not be written: {describe_os_error(error)}", file=sys.stderr)
    try:
        runs.append_event(run_dir, {"type": "end", "time": time.time(), **final})
    except OSError:
        pass  # status.json above is what readers trust; the end event only backs it up

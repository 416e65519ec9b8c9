"""Execute one run folder: its pictures, its network, its strategy's recipe, everything recorded on disk.

The CLI calls execute_run() in its own process; the app's runner starts
`python -m tlcore worker RUN_DIR`, which calls the same function (tlcore.runs.supervision.launch).
Everything the run reports is one of the run's events (tlcore.training.events), sent to its listeners:
the recorder, the one writer of the folder's events and progress, and any the caller adds (the CLI's
progress bar).
"""
import os
import sys
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import torch

from tlcore import paths
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import PICTURES_CHANGED, PicturesChanged
from tlcore.device import configure_cpu_threads, describe_device
from tlcore.diskspace import require_free_space
from tlcore.errors import InputError, describe_os_error
from tlcore.models.backbones import is_combined
from tlcore.models.answering import Answers
from tlcore.models.classifier import checkpoint_bytes, save_checkpoint
from tlcore.models.weights import WeightsUnavailable
from tlcore.runs.execution.answer_fit import body_features, cached_features, fit_answers
from tlcore.runs.execution.cancel_flag import CancelFlag
from tlcore.runs.execution.launched import LAUNCHER_ENV, end_with_launcher
from tlcore.runs.execution.network import (body_distance, body_start, build_model, process_device,
                                           weights_identities)
from tlcore.runs.execution.phase_data import PhaseDataMaker
from tlcore.runs.execution.recorder import RunRecorder
from tlcore.runs.execution.run_data import RunData, progress_reporter, read_run_data
from tlcore.runs.execution.status_writer import HeldStatus, StatusWriter
from tlcore.runs.execution.timing import timed
from tlcore.runs.store.folder import RunFolder
from tlcore.runs.store.predictions import write_predictions
from tlcore.runs.store.sources import check_members, check_start
from tlcore.training import distributed
from tlcore.training.checks import check_config
from tlcore.training.distributed import World
from tlcore.training.events import sender
from tlcore.training.calibration import logits_of, softmax
from tlcore.training.loop import FitResult, StopRequested, TrainingFailed, fit
from tlcore.training.strategies import PlanInputs

# Errors whose message is already written for people; anything else is reported with its type, and its
# traceback goes to the worker's log.
EXPECTED_ERRORS = (InputError, WeightsUnavailable, TrainingFailed, MemoryError)


def _train(folder: RunFolder, status: StatusWriter, should_stop, timings: dict, listeners: list,
           world: World) -> dict:
    """The run's recipe, from its config to the saved model; returns the succeeded status fields.

    With several processes (world) each one runs this on its share of the pictures; rank 0 alone
    writes the run folder."""
    report = sender(listeners)
    config = folder.load_config()
    strategy = check_config(config.replace(processes=world.size))
    source = check_start(config)  # the run it starts from may have been deleted while this one waited
    members = check_members(config) if is_combined(config.backbone) else []
    device = start_process(config, world, status)
    cache = ImageCache(paths.cache_dir())
    data = read_run_data(folder, config, cache=cache, status=status, should_stop=should_stop, timings=timings,
                         writes=world.writes)
    report("on_run_data", data=data, config=config)
    if strategy.before is not None:  # its pictures checked before the network, so a refusal costs nothing
        with timed(timings, "scan_s"):
            practice = strategy.load_practice(config, cache, progress_reporter(
                status, "checking the meta-learning pictures", should_stop))
    status.stage("loading backbone")
    with timed(timings, "backbone_s"):
        model = build_model(config, strategy, len(data.classes), source, members, device)
    summary = {}
    if strategy.before is not None:
        with timed(timings, "meta_s"):
            summary = strategy.practise(model, config, practice, device=device, should_stop=should_stop,
                                        report=report)
    start = body_start(model, strategy.trains_body)  # from where training starts: after any practice
    weights = weights_identities(config, model, source, members, practised=strategy.before is not None)
    # Refused now rather than after the training it would have cost: the saved model's size.
    require_free_space(folder.path, checkpoint_bytes(model), "the trained model's files")
    if world.active and device.type == "cuda" and strategy.trains_norm_stats:
        # BatchNorm statistics that train are computed over every GPU's share of the batch (the same
        # parameter and buffer objects: the phases and the optimizer see the converted layers).
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    phases = strategy.plan(model, config, PlanInputs(joint_classes=len(data.joint_classes), device=device))
    status.stage("training")
    phase_data = PhaseDataMaker(model, data, config, weights, device, should_stop,
                                torch.Generator().manual_seed(config.seed), timings, report, world)
    fitted = FitOutcome()
    with timed(timings, "fit_s"):
        try:
            result = fit(model, phases, phase_data, device=device, num_classes=len(data.classes),
                         callbacks=[*listeners, fitted], should_stop=should_stop,
                         early_stop_patience=config.early_stop_patience, world=world)
        except StopRequested:
            if world.writes:
                keep_best_so_far(folder, model, config, data, fitted.result, status)
            raise
    final_distance = body_distance(model, start) if strategy.trains_body else None
    model.load_state_dict(result.best_state)
    final = succeeded_status(result, data, summary)
    if world.writes:
        status.stage("checking how sure its answers are")
        with timed(timings, "answers_s"):
            # Features the feature pass made are the kept body's own when no phase changed the body.
            unchanged = not world.active and all(phase.inputs == "embeddings" for phase in phases)
            features = cached_features(phase_data) if unchanged else body_features(model, data, device, should_stop)
            try:
                answers, figures = fit_answers(model, data, features, seed=config.seed)
            except StopRequested:  # the model trained: it is kept, answering as it was trained
                keep_best_so_far(folder, model, config, data, result, status)
                raise
            except Exception as error:  # noqa: BLE001 - the trained model is worth more than its answers' honesty
                traceback.print_exception(error)
                answers, figures = Answers(), {}
        keep_model(folder, model, config, data, result, answers)
        if "reliability" in figures:
            folder.write_json(RunFolder.RELIABILITY, figures.pop("reliability"))
        final.update(figures)
    if strategy.trains_body:  # of the kept model, and of the last epoch's
        final.update(body_distance=round(body_distance(model, start), 4), final_body_distance=round(final_distance, 4))
    return final


def start_process(config, world: World, status: StatusWriter) -> torch.device:
    """This process set up to train: its threads, its device, its place among the run's processes, its seed."""
    configure_cpu_threads()
    device = process_device(config, world)
    distributed.join(world, device)
    status.update(device=describe_device(device), processes=world.size)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    torch.manual_seed(config.seed)
    return device


def keep_model(folder: RunFolder, model, config, data: RunData, result: FitResult,
               answers: Answers | None = None) -> None:
    """The kept model, what makes its answers honest, and its answer for every validation picture (as
    sure as the scaled probabilities say), in the run folder."""
    answers = answers or Answers()
    if result.best_probabilities is not None:
        write_predictions(folder, data.manifest.split("val"), data.classes,
                          scaled(result.best_probabilities, answers.temperature))
    save_checkpoint(folder.model_path, model, config, data.classes, epoch=result.best_epoch,
                    val_acc=result.best_val_acc, answers=answers.to_meta())


def scaled(probabilities, temperature: float):
    """Probabilities as the fitted temperature makes them (the same order: no answer changes)."""
    return probabilities if temperature == 1.0 else softmax(logits_of(probabilities), temperature)


class FitOutcome:
    """Holds the fit's result when the fit ends, a cancel included, which returns none."""

    result: FitResult | None = None

    def on_fit_end(self, result, outcome, error):
        self.result = result


def keep_best_so_far(folder: RunFolder, model, config, data: RunData, result: FitResult | None,
                     status: StatusWriter) -> None:
    """A cancelled run's best model so far, when a round was finished, kept as a finished run's is: the
    rounds it did may have been worth minutes, and the model can still be tried."""
    if result is None or result.best_state is None:
        return
    model.load_state_dict(result.best_state)
    try:
        keep_model(folder, model, config, data, result)
        status.update(best_epoch=result.best_epoch, best_phase=result.best_phase,
                      best_val_acc=round(result.best_val_acc, 5))
    except OSError:  # a full disk: the run is cancelled all the same, without its model
        pass


def succeeded_status(result: FitResult, data: RunData, summary: dict) -> dict:
    """The status fields of a run that succeeded: its figures, and those of any practice before its phases."""
    final = dict(state="succeeded", best_val_acc=round(result.best_val_acc, 5),
                 final_val_acc=round(result.final_val_acc, 5), best_epoch=result.best_epoch,
                 best_phase=result.best_phase, epochs_run=result.epochs_run, stopped_early=result.stopped_early,
                 train_images_per_s=round(result.train_images_per_s, 1), balanced=data.balanced, **summary)
    if "target" in result.best_checks:
        final.update(best_target_acc=round(result.best_checks["target"], 5),
                     final_target_acc=round(result.final_checks["target"], 5))
    return final


def execute_run(run_dir: Path, callbacks=(), world: World | None = None) -> dict:
    """Train the run described by run_dir/config.json and record everything in run_dir.

    callbacks: more listeners of the run's events (the CLI's progress bar), on the process that writes.
    world: the processes training it together (default: as torchrun's environment says, else this one
    alone); each calls this, and rank 0 alone writes the run folder.
    Returns:
        The final status dict (state succeeded, failed or cancelled, with metrics or an error).
    """
    folder = RunFolder(run_dir)
    world = world or distributed.world_from_env()
    started = time.perf_counter()
    should_stop = CancelFlag(folder)
    status = (StatusWriter if world.writes else HeldStatus)(folder, progress_clock=lambda: should_stop.last_asked_at)
    recorder = RunRecorder(folder, status) if world.writes else None
    listeners = [recorder, *callbacks] if recorder is not None else []  # rank 0 reports for all
    on_main_thread = threading.current_thread() is threading.main_thread()
    timings: dict[str, float] = {}  # seconds per stage; fit_s includes embedding_s (features are made lazily)
    # A run whose processes a launcher started names the launcher as its worker: it is what the runner
    # watches and stops (its processes end with it).
    launcher = os.environ.get(LAUNCHER_ENV) if world.active else None
    if launcher:
        end_with_launcher(int(launcher))
    with should_stop.signal_handlers() if on_main_thread else nullcontext():
        status.update(state="running", pid=int(launcher) if launcher else os.getpid(), started_at=time.time(),
                      error=None, error_kind=None)
        status.start_heartbeat()
        try:
            should_stop.armed = True
            try:
                final = _train(folder, status, should_stop, timings, listeners, world)
            finally:
                should_stop.armed = False  # from here on a signal cannot cut the final writes short
        except StopRequested:
            final = dict(state="cancelled", error=None)
        except Exception as exc:
            final = failed_status(exc, world, should_stop)
        finally:
            status.stop_heartbeat()
            distributed.leave()
        final.update(ended_at=time.time(), wall_s=round(time.perf_counter() - started, 2), stage=None,
                     timings=timings)
        if recorder is not None:
            record_final(status, final, recorder)
        else:
            status.update(**final)
    return status.status


def failed_status(exc: Exception, world: World, should_stop) -> dict:
    """How a run that raised ended, in words: a cancel that a peer honoured first, a peer lost, an error
    written for people, the machine's environment, or a bug (its traceback in the worker's log)."""
    lost = distributed.peer_lost(exc) if world.active else None
    if lost is not None and should_stop():  # another process honoured the cancel first and left
        return dict(state="cancelled", error=None)
    if lost is not None:
        return dict(state="failed", error=str(lost))
    if isinstance(exc, PicturesChanged):  # the pages offer to check the dataset again
        return dict(state="failed", error=str(exc), error_kind=PICTURES_CHANGED)
    if isinstance(exc, EXPECTED_ERRORS):
        return dict(state="failed", error=str(exc))
    if isinstance(exc, OSError):  # the environment, not a bug: a missing weights file, a full disk
        return dict(state="failed", error=describe_os_error(exc))
    traceback.print_exception(exc)  # a bug or a fault of the machine: details in the log, a sentence in the UI
    return dict(state="failed", error=f"Unexpected error ({type(exc).__name__}): {exc}")


def record_final(status: StatusWriter, final: dict, recorder: RunRecorder | None = None) -> None:
    """Write how the run ended, even on a full disk: it must never read "running" for good."""
    try:
        status.update(**final)
    except OSError as error:  # even the in-place rewrite failed: the process's exit code still tells the runner
        status.status.update(final)
        print(f"The run's final status could not be written: {describe_os_error(error)}", file=sys.stderr)
    try:
        (recorder or RunRecorder(status.folder, status)).record_end(final)
    except OSError:
        pass  # status.json above is what readers trust; the end event only backs it up

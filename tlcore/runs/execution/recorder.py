"""The run's recorder: the one writer of its events (events.jsonl) in the worker, and of the progress
and time left its status shows. It listens to the run's events (tlcore.training.events)."""
import time

from tlcore.records import EVENT_OPTIONAL_FIELDS, NUMBER
from tlcore.runs.execution.status_writer import StatusWriter
from tlcore.runs.execution.work_meter import WorkMeter
from tlcore.runs.store.folder import RunFolder

BATCH_EVENT_INTERVAL_S = 0.25  # fast loops (a GPU, cached features) would otherwise write thousands of lines


class RunRecorder(WorkMeter):
    """Appends the run's events to its folder and keeps status.json's progress and time left current."""

    def __init__(self, folder: RunFolder, status: StatusWriter):
        super().__init__()
        self.folder = RunFolder(folder)
        self.status = status
        self._last_batch_event = 0.0
        self._pending_losses: list[float] = []

    def _emit(self, kind: str, **fields) -> None:
        self.folder.append_event({"type": kind, "time": round(time.time(), 3), **fields})

    def _progress(self, epoch: int, step: int | None) -> dict:
        return {**self.progress(step), "epoch": epoch, "epochs": self.total_epochs}

    def on_run_data(self, data, config):
        super().on_run_data(data, config)
        manifest = data.manifest
        self._emit("dataset", classes=manifest.classes, counts=manifest.counts(), skipped=len(manifest.skipped),
                   warnings=manifest.warnings)
        if data.target_set is not None:
            target = data.target_set
            self._emit("target", pictures=len(target.samples), labelled=len(target.labelled),
                       unknown_classes=target.unknown_classes, skipped=len(target.skipped))
        if data.joint is not None:
            self._emit("joint", classes=data.joint_classes, pictures=len(data.joint))
        if data.train_rows is not None:
            self._emit("subset", per_class=config.train_per_class, pictures=len(data.train_rows))

    def on_practice(self, stage, done, total, figures=None):
        if figures is not None:
            self._emit("meta", episode=done, episodes=total, **figures)
        recent = {"query_acc": figures["recent_query_acc"]} if figures else {}
        self.status.stage(stage, done=done, total=total, **recent)

    def on_fit_start(self, phases, total_epochs):
        super().on_fit_start(phases, total_epochs)
        self._emit("fit_start", total_epochs=total_epochs,
                   phases=[{"name": p.name, "epochs": p.epochs, "inputs": p.inputs} for p in phases])

    def on_features(self, done: int, total: int, split: str) -> None:
        super().on_features(done, total, split)
        self.status.update(stage={"name": "embedding", "split": split, "done": done, "total": total},
                           progress=self._progress(0, None))

    def on_phase_start(self, phase, index, steps_per_epoch, train_size, val_size):
        super().on_phase_start(phase, index, steps_per_epoch)
        self.status.stage("training")  # any feature pass is over; progress is the loop's again
        self._emit("phase_start", phase=phase.name, inputs=phase.inputs, epochs=phase.epochs,
                   steps_per_epoch=steps_per_epoch, train_size=train_size, val_size=val_size)

    def on_batch_end(self, phase, epoch, step, steps, loss):
        super().on_batch_end(phase)
        self._pending_losses.append(loss)
        now = time.perf_counter()
        if now - self._last_batch_event < BATCH_EVENT_INTERVAL_S and step < steps:
            return
        self._last_batch_event = now
        mean_loss = sum(self._pending_losses) / len(self._pending_losses)
        self._pending_losses.clear()
        progress = self._progress(epoch, step)
        self._emit("batch", phase=phase.name, epoch=epoch, step=step, steps=steps, loss=round(mean_loss, 5),
                   fraction=progress["fraction"])
        self.status.update(progress=progress)

    def on_epoch_end(self, phase, epoch, total_epochs, improved, lr, **stats):
        super().on_epoch_end(phase)
        images_per_s = stats["images"] / stats["seconds"] if stats["seconds"] else 0.0
        progress = self._progress(epoch, None)
        self._emit("epoch", phase=phase.name, epoch=epoch, epochs=total_epochs,
                   train_loss=round(stats["train_loss"], 5), train_acc=round(stats["train_acc"], 5),
                   val_loss=round(stats["val_loss"], 5), val_acc=round(stats["val_acc"], 5),
                   confusion=stats["confusion"], per_class=stats["per_class"], improved=improved,
                   images_per_s=round(images_per_s, 1), epoch_s=round(stats["seconds"], 3), lr=lr,
                   eta_s=progress["eta_s"], **extra_figures(stats))
        kept = {"best_val_acc": round(stats["val_acc"], 5)} if improved else {}  # the accuracy of the model kept
        self.status.update(progress=progress, final_val_acc=round(stats["val_acc"], 5), epochs_run=epoch, **kept)

    def on_fit_end(self, result, outcome, error):
        self._emit("fit_end", outcome=outcome, best_val_acc=round(result.best_val_acc, 5),
                   best_epoch=result.best_epoch, best_phase=result.best_phase, epochs_run=result.epochs_run,
                   stopped_early=result.stopped_early)

    def record_end(self, final: dict) -> None:
        """How the run ended, also as its last event: a status file damaged later is rebuilt from it."""
        self._emit("end", **final)


def extra_figures(stats: dict) -> dict:
    """What an epoch may carry besides the usual figures (tlcore.records lists them): a labelled
    target's accuracy and confusion matrix, and what the phase's loss terms report."""
    optional = EVENT_OPTIONAL_FIELDS["epoch"]
    return {name: round(float(stats[name]), 5) if kind == NUMBER else stats[name]
            for name, kind in optional.items() if name in stats}

"""Training callbacks that write a run's events and status into its folder, for the UI to read."""
import threading
import time
from pathlib import Path

from tlcore.jsonio import write_json_atomic
from tlcore.records import EVENT_OPTIONAL_FIELDS, NUMBER
from tlcore import runs
from tlcore.runs.work_meter import WorkMeter

BATCH_EVENT_INTERVAL_S = 0.25  # fast loops (a GPU, cached features) would otherwise write thousands of lines


class StatusWriter:
    """The worker's one writer of status.json: progress from the loop, a heartbeat from a thread.

    ``progress_at`` tells the runner's watchdog when the work last moved: every update from the work
    itself, and the latest time ``progress_clock`` reports (the loop checking for a cancel, once a
    batch). The heartbeat alone proves only that the process lives.
    """

    def __init__(self, run_dir: Path, heartbeat_s: float = 2.0, progress_clock=None):
        self.run_dir = Path(run_dir)
        self.status = runs.read_status(self.run_dir)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat_s = heartbeat_s
        self._progress_clock = progress_clock
        self._thread = None

    def update(self, **fields) -> None:
        now = time.time()
        with self._lock:
            self.status.update(fields, heartbeat_at=now, progress_at=now)
            write_json_atomic(self.run_dir / "status.json", self.status)

    def beat(self) -> None:
        """Say the process lives, and when its work last moved."""
        with self._lock:
            self.status["heartbeat_at"] = time.time()
            if self._progress_clock is not None:
                self.status["progress_at"] = max(self.status.get("progress_at") or 0.0, self._progress_clock())
            write_json_atomic(self.run_dir / "status.json", self.status)

    def start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(self._heartbeat_s):
                try:
                    self.beat()
                except OSError:  # a full disk: the work itself will meet it and say so
                    pass
        self._thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


class HeldStatus(StatusWriter):
    """The status of a process that does not write the run folder (ranks other than 0 of a run trained
    by several processes): kept in memory, never written; rank 0's status speaks for the run."""

    def update(self, **fields) -> None:
        with self._lock:
            self.status.update(fields)

    def beat(self) -> None:
        pass


class RunRecorder(WorkMeter):
    """Appends batch/epoch events to events.jsonl and keeps status.json's progress and time left current."""

    def __init__(self, run_dir: Path, status: StatusWriter, train_images: int = 0, val_images: int = 0):
        super().__init__(train_images, val_images)
        self.run_dir = Path(run_dir)
        self.status = status
        self._last_batch_event = 0.0
        self._pending_losses: list[float] = []

    def _emit(self, kind: str, **fields) -> None:
        runs.append_event(self.run_dir, {"type": kind, "time": round(time.time(), 3), **fields})

    def _progress(self, epoch: int, step: int | None) -> dict:
        return {**self.progress(step), "epoch": epoch, "epochs": self.total_epochs}

    def on_fit_start(self, phases, total_epochs):
        super().on_fit_start(phases, total_epochs)
        self._emit("fit_start", total_epochs=total_epochs,
                   phases=[{"name": p.name, "epochs": p.epochs, "inputs": p.inputs} for p in phases])

    def on_features(self, done: int, total: int, split: str) -> None:
        """The feature pass moved (called by the worker, a few times a second at most)."""
        super().on_features(done, total, split)
        self.status.update(stage={"name": "embedding", "split": split, "done": done, "total": total},
                           progress=self._progress(0, None))

    def on_phase_start(self, phase, index, steps_per_epoch, train_size, val_size):
        super().on_phase_start(phase, index, steps_per_epoch)
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


def extra_figures(stats: dict) -> dict:
    """What an epoch may carry besides the usual figures (tlcore.records lists them): a labelled
    target's accuracy and confusion matrix, and what the phase's loss terms report."""
    optional = EVENT_OPTIONAL_FIELDS["epoch"]
    return {name: round(float(stats[name]), 5) if kind == NUMBER else stats[name]
            for name, kind in optional.items() if name in stats}

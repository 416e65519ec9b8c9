"""Run facts in words a person reads: states, durations, accuracies, stages."""
import time
from pathlib import Path

from tlcore.runs import RunSummary

STAGE_WORDS = {"scanning": "Checking images", "embedding": "Computing features once",
               "loading backbone": "Loading the pretrained network", "training": "Training"}


def duration(seconds: float | None) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'; '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def run_seconds(status: dict) -> float | None:
    """How long a run has been going (running) or went (finished); None before it started."""
    if status.get("wall_s") is not None:
        return status["wall_s"]
    started = status.get("started_at")
    if not started:
        return None
    return (status.get("ended_at") or time.time()) - started


def time_text(summary: RunSummary) -> str:
    """The table's time column: how long a queued run has waited, else how long it trained."""
    if summary.state == "queued":
        return f"waiting {duration(time.time() - summary.created_at)}"
    return duration(run_seconds(summary.status))


def accuracy_text(summary: RunSummary) -> str:
    """Best validation accuracy; a running run's best so far; '—' before the first epoch."""
    best = summary.status.get("best_val_acc")
    if best is None:
        return "—"
    return f"{percent(best)} so far" if summary.state == "running" else percent(best)


def state_text(state: str, queue_place: int | None = None) -> str:
    return f"queued (#{queue_place} in line)" if state == "queued" and queue_place else state


def dataset_label(summary: RunSummary) -> str:
    """The dataset's name as the person chose it, else its folder name."""
    if summary.config is None:
        return "—"
    return summary.config.extra.get("dataset") or Path(summary.config.data).name


def run_name(summary: RunSummary) -> str:
    """The person's name for a run, else its dataset and backbone."""
    config = summary.config
    if config is None:
        return summary.run_id
    return config.name or f"{dataset_label(summary)} · {config.backbone}"


def run_title(summary: RunSummary) -> str:
    """One line naming a run in pickers: name, strategy, when (its state changes; the title does not)."""
    if summary.config is None:
        return f"{summary.run_id} (settings unreadable)"
    created = time.strftime("%d %b %H:%M:%S", time.localtime(summary.created_at))
    return f"{run_name(summary)} · {summary.config.strategy.replace('_', ' ')} · {created}"


def progress_text(status: dict) -> tuple[float, str]:
    """The progress bar's fill and caption for a running run."""
    stage = status.get("stage") or {}
    progress = status.get("progress") or {}
    name = stage.get("name")
    if name in ("scanning", "embedding") and stage.get("total"):
        done, total = stage["done"], stage["total"]
        return done / total, f"{STAGE_WORDS[name]}: {done} of {total} images"
    if name == "training" and progress:
        eta = progress.get("eta_s")
        left = f" · about {duration(eta)} left" if eta is not None else ""
        return (progress.get("fraction") or 0.0,
                f"Epoch {progress.get('epoch')} of {progress.get('epochs')} · step {progress.get('step')} of "
                f"{progress.get('steps')}{left}")
    return 0.0, STAGE_WORDS.get(name, "Starting the training process") + "…"

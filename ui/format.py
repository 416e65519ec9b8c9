"""Run facts in words a person reads: names, states, durations, accuracies (progress: ui.progress)."""
import math
import re
import time

from tlcore.config import RunConfig
from tlcore.runs.store.notes import dataset_name
from tlcore.runs import RunSummary
from ui.engine import engine_ready


def duration(seconds: float | None) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'; '—' when unknown."""
    if seconds is None or not math.isfinite(seconds):
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


def accuracy_cell(summary: RunSummary) -> str:
    """Best validation accuracy in whole percent, for a narrow column (a running run's is its best so far)."""
    best = summary.status.get("best_val_acc")
    return "—" if best is None else f"{best:.0%}"


def time_cell(summary: RunSummary) -> str:
    """The time column in a narrow table: like time_text, without "waiting" and without seconds past 10 min."""
    seconds = time.time() - summary.created_at if summary.state == "queued" else run_seconds(summary.status)
    if seconds is not None and 600 <= seconds < 3600:
        return f"{int(seconds // 60)} min"
    return duration(seconds)


def state_text(state: str, queue_place: int | None = None, starts_in_s: float | None = None) -> str:
    """A state in words; a queued run's place in line, and when it should start where that is known."""
    if state != "queued" or not queue_place:
        return state
    when = ("" if starts_in_s is None else ", next to start" if starts_in_s < 1
            else f", starts in about {duration(starts_in_s)}")
    return f"queued (#{queue_place} in line{when})"


# Symbols that plain text fonts carry (no colour emoji needed, so a projector's browser shows them too).
STATE_ICONS = {"queued": "◷", "running": "▶", "succeeded": "✓", "failed": "✗", "cancelled": "■", "interrupted": "⚠"}


def state_cell(state: str, queue_place: int | None = None) -> str:
    """A state for a narrow table column: an icon, then the state in one short word or two."""
    words = f"queued #{queue_place}" if state == "queued" and queue_place else state
    return f"{STATE_ICONS.get(state, '')} {words}".strip()


def strategy_words(name: str) -> str:
    """A strategy as words in a sentence ("feature extraction"), from the strategy registry; from its
    code name while the engine is still being imported (the first page does not wait for torch)."""
    if not engine_ready():
        return name.replace("_", " ")
    from tlcore.training.strategies import get_strategy

    try:
        title = get_strategy(name).title
    except ValueError:  # a run made by another version of the studio
        return name.replace("_", " ")
    return title[:1].lower() + title[1:]


def backbone_words(name: str) -> str:
    """A backbone's own title ("MobileNetV2") from the registry; its code name when it is unknown or
    while the engine is still being imported."""
    if not engine_ready():
        return name
    from tlcore.models.backbones import get_spec

    try:
        return get_spec(name).title
    except ValueError:
        return name


def head_words(name: str) -> str:
    """A head, the new last layer, in words ("class averages (prototypes)") from the heads registry; its
    code name while the engine is still being imported or when it is unknown."""
    if not engine_ready():
        return name
    from tlcore.models.heads import get_head

    try:
        return get_head(name).title
    except ValueError:  # ConfigError: a run made by another version of the studio
        return name


def dataset_label(summary: RunSummary) -> str:
    """The dataset's name as the person chose it, else its folder name."""
    return "—" if summary.config is None else dataset_name(summary.config)


def run_name(summary: RunSummary) -> str:
    """The person's name for a run (given later, else when it started); else dataset, strategy, the last
    layer when it is not the usual one and, when several runs share those, a number:
    "fm5 · feature extraction · #2", "fm5 · feature extraction · class averages (prototypes)"."""
    if summary.notes and summary.notes.name:
        return summary.notes.name
    config = summary.config
    if config is None:
        return summary.run_id
    if config.name:
        return config.name
    name = f"{dataset_label(summary)} · {strategy_words(config.strategy)}"
    if config.head != RunConfig.head:
        name += f" · {head_words(config.head)}"
    return f"{name} · #{summary.repeat}" if summary.repeat > 1 else name


# Windows refuses these as file names, whatever follows the dot.
RESERVED_FILE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def file_name(summary: RunSummary, longest: int = 80) -> str:
    """The run's name as a file name every system takes ("fm5 - feature extraction - 2"): letters and
    digits of any script, spaces, dots, dashes, underscores and brackets; its id when nothing is left."""
    words = re.sub(r"[^\w\-.() ]+", " ", run_name(summary).replace(" · ", " - "))
    words = re.sub(r"\s+", " ", words)[:longest].strip(" .-")
    if not words or words.split(".")[0].strip().upper() in RESERVED_FILE_NAMES:
        return summary.run_id
    return words


def is_starred(summary: RunSummary) -> bool:
    return bool(summary.notes and summary.notes.starred)


def run_title(summary: RunSummary) -> str:
    """One line naming a run in pickers: star, name, strategy and an unusual last layer (when the name lacks
    them), when it was made.

    Its state changes; the title does not, so a picker keeps its choice while a run trains.
    """
    if summary.config is None:
        return f"{summary.run_id} (settings unreadable)"
    name = run_name(summary)
    parts = [f"★ {name}" if is_starred(summary) else name]
    strategy = strategy_words(summary.config.strategy)
    if strategy not in name:
        parts.append(strategy)
    head = head_words(summary.config.head)
    if summary.config.head != RunConfig.head and head not in name:
        parts.append(head)
    parts.append(time.strftime("%d %b %H:%M", time.localtime(summary.created_at)))
    return " · ".join(parts)


def step_words(step: dict) -> str:
    """One starting point of a run's chain (tlcore.runs.store.sources), in words."""
    kind = step.get("kind")
    if kind == "imagenet":
        return f"ImageNet's weights ({backbone_words(str(step.get('backbone')))})"
    if kind == "random":
        return f"random numbers ({backbone_words(str(step.get('backbone')))} from scratch)"
    if kind == "weights_file":
        return f"your weights file {step.get('file')}"
    if kind == "combined":
        members = [m for m in step.get("members") or [] if isinstance(m, dict)]
        return "the features of " + " + ".join(step_words(member) for member in members) + ", side by side"
    name = step.get("name") or f"{step.get('dataset')} · {strategy_words(str(step.get('strategy')))}"
    classes = step.get("classes") or []
    accuracy = step.get("best_val_acc")
    right = f", right on {percent(accuracy)}" if isinstance(accuracy, (int, float)) else ""
    return f"run «{name}» ({len(classes)} classes{right})"


def chain_text(chain: list[dict], last: str = "this run") -> str:
    """Where a run's network came from, oldest first: "ImageNet's weights → run «A» → this run"."""
    return " → ".join([*(step_words(step) for step in chain), *([last] if last else [])])

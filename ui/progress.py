"""A running run's progress in words: the one source for the Runs page and the sidebar alike.

The fill is the share of the whole run's work done (tlcore.work_meter): the feature pass, the
warm-up and the training rounds together, so it only moves forward. Rounds are counted per part,
as the person chose them ("warm-up round 3 of 5", then "fine-tuning round 1 of 3").
"""
from ui import format as fmt

LIVE_REFRESH_S = 1.5  # the page's live view and the sidebar redraw together, so they say the same
# A run waiting its turn changes little (its place, its estimated start): looked at less often, which in a
# class, where most runs wait, spares the server most of its redraws.
WAITING_REFRESH_S = 5.0


def refresh_every(states) -> float | None:
    """How often a view of runs in these states redraws: live while one trains, slower while they wait."""
    if "running" in states:
        return LIVE_REFRESH_S
    return WAITING_REFRESH_S if "queued" in states else None

PHASE_WORDS = {"head": "Warm-up: teaching the new last layer", "body": "Fine-tuning the network",
               "all": "Training the whole network"}
SINGLE_PHASE_WORDS = {"head": "Teaching the new last layer"}
STAGE_WORDS = {"scanning": "Checking the pictures",
               "checking the target pictures": "Checking the pictures from where the model will be used",
               "checking the meta-learning pictures": "Checking the pictures to practise on (meta-learning sources)",
               "checking the second dataset": "Checking the second dataset (joint training)",
               "meta-training": "Practising on small tasks (meta-learning)",
               "embedding": "Computing features once (the network looks at "
               "every picture)", "loading backbone": "Loading the network that already knows how to see",
               "training": "Training",
               "checking how sure its answers are": "Checking how sure its answers are (fitting the "
                                                    "temperature, keeping pictures to compare new ones with)"}


def progress_text(status: dict) -> tuple[float, str]:
    """The progress bar's fill (0 to 1) and its caption, for a running run's status."""
    stage = status.get("stage") or {}
    progress = status.get("progress") or {}
    name = stage.get("name")
    fraction = _number(progress.get("fraction"), 0.0)
    if name in ("scanning", "checking the target pictures", "checking the meta-learning pictures",
                "checking the second dataset"):
        done, total = _number(stage.get("done"), 0), _number(stage.get("total"), 0)
        counted = f": {done:.0f} of {total:.0f}" if total else "…"
        return (done / total if total else 0.0), f"Before training: {STAGE_WORDS[name].lower()}{counted}"
    if name == "meta-training":
        done, total = _number(stage.get("done"), 0), _number(stage.get("total"), 0)
        recent = stage.get("query_acc")
        right = f" · right on {fmt.percent(recent)} of each task's other pictures after adapting" \
            if isinstance(recent, (int, float)) else ""
        return (done / total if total else 0.0), f"Before training: {STAGE_WORDS[name].lower()}, task {done:.0f} " \
                                                  f"of {total:.0f}{right}"
    if name == "embedding":
        done, total = _number(stage.get("done"), 0), _number(stage.get("total"), 0)
        # A pass is named by its set, then what it describes: "train:view:2:…" (a varied copy), "val:mirror".
        kind, *variant = str(stage.get("split") or "").split(":")
        split = {"train": "to learn from", "target": "from where it will be used"}.get(kind, "to check on")
        if variant[:1] == ["view"]:
            split += f", varied copy {variant[1]}"
        elif variant[:1] == ["mirror"]:
            split += ", mirrored"
        elif variant[:1] == ["statistics"]:
            split += ", measuring their averages (BatchNorm statistics)"
        return fraction, (f"{STAGE_WORDS['embedding']}: {done:.0f} of {total:.0f} pictures {split}"
                          f" · {time_left_text(progress)}")
    if name == "training" and progress.get("phase"):
        return fraction, f"{phase_round_text(progress)} · {time_left_text(progress)}"
    return fraction, STAGE_WORDS.get(name, "Starting the training process") + "…"


def phase_round_text(progress: dict) -> str:
    """'Warm-up: teaching the new last layer, round 3 of 5 · step 2 of 4' and the like."""
    phase = progress.get("phase")
    several = _number(progress.get("phases"), 1) > 1
    words = PHASE_WORDS.get(phase) if several else SINGLE_PHASE_WORDS.get(phase, "Training")
    text = f"{words or phase}, round {progress.get('round')} of {progress.get('rounds')}"
    if progress.get("step") is not None:
        text += f" · step {progress.get('step')} of {progress.get('steps')}"
    return text


def time_left_text(progress: dict) -> str:
    eta = progress.get("eta_s")
    return f"about {fmt.duration(eta)} left" if isinstance(eta, (int, float)) else "working out the time left…"


def rounds_text(config) -> str:
    """The rounds of a run as the person chose them: '20 rounds', or 'warm-up 5 + 3 rounds'."""
    from tlcore.training.strategies import get_strategy  # the registry brings torch; a live view has it already

    plural = "s" * (config.epochs != 1)
    if get_strategy(config.strategy).warm_up and config.head_epochs:
        return f"warm-up {config.head_epochs} + {config.epochs} round{plural}"
    return f"{config.epochs} round{plural}"


def _number(value, default):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default

"""Which queued run goes next, on which device, and what a worker's exit says in words."""
import signal
import statistics
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

from tlcore.config import RunConfig
from tlcore.diskspace import free_bytes
from tlcore.runs.store.listing import RunSummary

LOW_SPACE_BYTES = 16 * 1024**2  # below this, a worker that died unheard most likely ran out of disk
LATEST_ALIKE = 5  # finished runs a queued run's time is estimated from


class Turn(NamedTuple):
    """When a person was last served, in the order turns compare: never, a run that started then, a run
    training now, a place already given in the line being played forward."""

    stage: int
    at: float = 0.0


NEVER_SERVED, SERVED, TRAINING_NOW, IN_LINE = range(4)
NEVER = Turn(NEVER_SERVED)


def device_slots(config: RunConfig | None) -> frozenset[str]:
    """The devices a run holds while it trains: one, or one GPU per process of a run trained by several
    (which holds them all as one run); on the CPU, the CPU, however many processes share it."""
    slot = device_slot(config)
    processes = config.processes if config else 1
    if processes > 1 and slot.startswith("cuda:"):
        return frozenset(f"cuda:{index}" for index in range(processes))
    return frozenset([slot])


def device_slot(config: RunConfig | None) -> str:
    """The device a run trains on, as a slot name: "auto" resolved here, "cuda" meaning "cuda:0"."""
    from tlcore.device import resolve_device  # imports torch: here, so that a runner with no run to place
    # starts without it (the app starts its runner, and with it the warm worker, before torch is in)

    asked = config.device if config else RunConfig.device
    try:
        device = resolve_device(asked)
    except ValueError:
        return asked  # not available here: its worker fails at once with the reason
    return f"{device.type}:{device.index or 0}"


def in_line(summaries: list[RunSummary]) -> list[RunSummary]:
    """The queued runs in the order they start: people take turns, each person's own first come first.

    The next run is the oldest queued run of the person served least recently: someone never served goes
    first, then whoever's latest run started longest ago, and someone whose run trains now was served just
    now. The rest of the line follows by playing the turns forward. One student's ten runs therefore never
    hold back another's first, and after each of theirs everyone else waiting has a turn. With one person
    (single-user mode) this is first come, first served.
    """
    served: dict[str, Turn] = {}  # owner -> their last turn
    for summary in summaries:
        started = summary.status.get("started_at")
        if summary.state == "running":
            turn = Turn(TRAINING_NOW)
        elif isinstance(started, (int, float)):
            turn = Turn(SERVED, started)
        else:
            continue
        served[summary.owner] = max(served.get(summary.owner, NEVER), turn)
    queues: dict[str, deque] = {}
    for summary in sorted((s for s in summaries if s.state == "queued"), key=lambda s: (s.created_at, s.run_id)):
        queues.setdefault(summary.owner, deque()).append(summary)
    line = []
    while queues:
        owner = min(queues, key=lambda o: (served.get(o, NEVER), queues[o][0].created_at, queues[o][0].run_id))
        line.append(queues[owner].popleft())
        served[owner] = Turn(IN_LINE, len(line))  # their next turn comes after everyone else's
        if not queues[owner]:
            del queues[owner]
    return line


def queue_waits(summaries: list[RunSummary]) -> dict[str, tuple[int, float | None]]:
    """Each queued run's place in line for its device and the seconds until it starts, estimated from
    measured times: what the runs training now say is left, then, for each run ahead, how long finished
    runs like it took. None where there is nothing measured to go by yet.
    """
    finished = [s for s in summaries if s.state == "succeeded" and _number(s.status.get("wall_s")) is not None]
    free_in: dict[str, float | None] = {}  # device slot -> seconds until it is free
    for summary in summaries:
        if summary.state == "running":
            left = _number((summary.status.get("progress") or {}).get("eta_s"))
            if left is None and (expected := expected_seconds(summary, finished)) is not None:
                left = max(expected - (time.time() - (_number(summary.status.get("started_at")) or time.time())), 0.0)
            for slot in device_slots(summary.config):
                free_in[slot] = _later(free_in.get(slot, 0.0), left)
    waits, counts = {}, {}
    for summary in in_line(summaries):
        slots = device_slots(summary.config)
        place = 1 + max(counts.get(slot, 0) for slot in slots)  # behind every run queued for one of its devices
        start = 0.0
        for slot in slots:
            counts[slot] = place
            start = _later(start, free_in.get(slot, 0.0))
        duration = expected_seconds(summary, finished)
        for slot in slots:
            free_in[slot] = None if start is None or duration is None else start + duration
        waits[summary.run_id] = (place, start)
    return waits


def expected_seconds(summary: RunSummary, finished: list[RunSummary]) -> float | None:
    """How long a run will take: the median of the latest finished runs most like it (the same strategy,
    network, picture size and rounds; else the same strategy and network; else the same strategy)."""
    config = summary.config
    if config is None:
        return None
    likeness = [lambda c: (c.strategy, c.backbone, c.image_size, c.epochs, c.data),
                lambda c: (c.strategy, c.backbone, c.image_size), lambda c: (c.strategy,)]
    for key in likeness:
        alike = [s for s in finished if s.config is not None and key(s.config) == key(config)]
        if alike:
            latest = sorted(alike, key=lambda s: s.created_at)[-LATEST_ALIKE:]
            return statistics.median(s.status["wall_s"] for s in latest)
    return None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _later(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else max(a, b)


def describe_exit(code: int | None, run_dir: Path | None = None) -> str:
    """Why a worker that ended without writing its run's end did so, in words."""
    if run_dir is not None and free_bytes(run_dir) < LOW_SPACE_BYTES:
        return (f"The disk is full ({run_dir.parent}): the training process could not write its files. "
                "Free some space and start the run again.")
    if code is None:
        return "The training process disappeared."
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " The system may have run out of memory." if name == "SIGKILL" else ""
        return f"The training process was killed by {name} before it finished.{hint}"
    return f"The training process exited with code {code} before it finished."

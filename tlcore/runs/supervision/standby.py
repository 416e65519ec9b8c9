"""A worker kept warm: a process that has imported torch and the engine and waits for its run.

A fresh worker spends a second or two importing torch, torchvision and the engine before its first
batch; for the short runs of a first try or a class demo that is most of the wait. The runner keeps
one standby worker ready (`python -m tlcore worker --standby TAG`) and hands it the next run's folder
on its stdin. It is still one separate process per run: it trains that run, exits, and the runner
starts the next standby once the device is free, so it never competes with a run for the processor.

A standby is the run's worker in every way the runner checks: its PID goes into the run's status,
and its command line carries TAG, which the status records too (worker_tag), so the runner may
signal it (tlcore.runs.supervision.processes.is_worker_of) exactly as it would a worker started for the run.
"""
from __future__ import annotations

import gc
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tlcore import paths
from tlcore.runs.store.folder import RunFolder

STANDBY_FLAG = "--standby"


@dataclass
class Standby:
    process: subprocess.Popen
    tag: str
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.process.poll() is None

    def age_s(self) -> float:
        return time.monotonic() - self.started

    def hand_over(self, run_dir: Path) -> bool:
        """Give it the run; False when it can no longer take one (it died, or its pipe is closed)."""
        if not self.alive():
            return False
        try:
            self.process.stdin.write(f"{run_dir}\n".encode())
            self.process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def dismiss(self) -> None:
        """No run for it: closing its stdin ends it; reaped here so no zombie stays."""
        try:
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=20)  # one still importing torch reads the end of its input after
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# A standby worker starts this long after the runner. The app makes its runner with its first page; a
# standby importing torch at once shares the two cores of a laptop with the server's own import of the
# engine, which the Train page waits for (bench/first_run.py: a click at once reached the Train page in
# 4.4-5.5 s with no delay, 2.4-3.1 s with this one, and the whole journey took 7.9 s instead of 10.4).
STANDBY_DELAY_S = 3.0
STANDBY_YOUNG_S = 30.0  # a standby that dies younger than this, unasked, counts toward giving up
STANDBY_MAX_DEATHS = 3
STANDBY_LOG = "standby.log"  # beside the runs folder: why a standby died, when one does


class StandbyPool:
    """The runner's one standby worker: started while no run trains, handed the next run, replaced.

    Not thread-safe on its own: the runner calls it under its lock.
    """

    def __init__(self, log: Path, wanted: bool):
        self.log, self.wanted = log, wanted
        self._standby: Standby | None = None
        self._deaths = 0  # standbys that died young in a row: past a few, runs start fresh
        self._created = time.monotonic()

    def keep_ready(self) -> None:
        """With no run training, have a standby worker ready (its imports then cost no run any time)."""
        if not self.wanted or time.monotonic() - self._created < STANDBY_DELAY_S:
            return
        if self._standby is not None and self._standby.alive():
            return
        if self._standby is not None:  # it died unasked: reaped, and replaced unless that keeps happening
            self._deaths = self._deaths + 1 if self._standby.age_s() < STANDBY_YOUNG_S else 1
            self._standby.dismiss()
            self._standby = None
        if self._deaths >= STANDBY_MAX_DEATHS:
            return  # something kills them (a broken install, the memory): runs start fresh, and say why
        try:
            self._standby = start_standby(self.log)
        except OSError:
            self._standby = None  # no process to spare now: runs start fresh workers, as without one

    def take(self) -> Standby | None:
        """The standby, alive, for the next run (the pool is then empty); None when there is none."""
        standby, self._standby = self._standby, None
        if standby is not None and not standby.alive():
            standby.dismiss()
            return None
        return standby

    @property
    def current(self) -> Standby | None:
        return self._standby

    def dismiss(self) -> None:
        if self._standby is not None:
            self._standby.dismiss()
            self._standby = None


def start_standby(log: Path) -> Standby:
    """Start a standby worker, its output until it gets a run appended to log (why it died, if it does).
    OSError when no process can be started: the caller starts runs fresh.

    It keeps the environment and the engine's code of the moment it starts, as a worker started then
    would: a setting changed later reaches the next standby, not this one.
    """
    tag = f"standby-{secrets.token_hex(6)}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "tlcore", "worker", STANDBY_FLAG, tag],
                                   stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env, cwd=paths.PROJECT_DIR)
    return Standby(process, tag)


def warm_up() -> None:
    """In the standby process, before it waits: what a run's first steps would otherwise pay.

    torch's optimizers import torch._dynamo the first time one is made (their methods are wrapped by
    torch._disable_dynamo, which imports it lazily): 1.2 to 2.2 s on a 2-core machine, more than the
    rest of a first run on the sample. Making one here pays it while no run waits. The imported
    modules' objects then leave the garbage collector's sight: its full collections during the run
    need not walk them again.
    """
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    gc.freeze()


def wait_for_run() -> Path | None:
    """In the standby process: the run folder the runner hands over, or None when the runner let it go.

    From then on the process writes to the run's worker.log, as a worker started for it does.
    """
    line = sys.stdin.buffer.readline().decode(errors="replace").strip()
    if not line:
        return None
    run_dir = Path(line)
    try:
        log = os.open(RunFolder(run_dir).worker_log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return run_dir  # a full disk: the run's status will say so, written by the run itself
    for stream in (1, 2):
        os.dup2(log, stream)
    os.close(log)
    return run_dir

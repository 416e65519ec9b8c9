"""Background runner: a queue on disk, one worker process at a time per device, cancel, recovery.

The queue is the run store itself: a queued run is a folder whose status says "queued", so a
restarted server, a second browser or a second server process sees the same queue. Dispatch is
serialized across processes with a file lock on the runs folder.
"""
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.data.manifest import Manifest
from tlcore.diskspace import free_bytes, is_disk_full
from tlcore.runs.watchdog import stall_message, stalled_stage
from tlcore.runs.processes import is_worker_of, kill_worker, pid_alive, reap
from tlcore.runs.standby import Standby, start_standby

HEARTBEAT_STALE_S = 30.0  # a worker silent this long is presumed dead or hung even if its PID lives
CANCEL_GRACE_S = 10.0  # after a cancel request, wait this long for the worker before signalling it
WORKER_START_S = 10.0  # long enough for a new worker to exec and show its own command line
LOW_SPACE_BYTES = 16 * 1024**2  # below this, a worker that died unheard most likely ran out of disk
# A standby worker starts this long after the runner. The app makes its runner with its first page; a
# standby importing torch at once shares the two cores of a laptop with the server's own import of the
# engine, which the Train page waits for (bench/first_run.py: a click at once reached the Train page in
# 4.4-5.5 s with no delay, 2.4-3.1 s with this one, and the whole journey took 7.9 s instead of 10.4).
STANDBY_DELAY_S = 3.0
STANDBY_YOUNG_S = 30.0  # a standby that dies younger than this, unasked, counts toward giving up
STANDBY_MAX_DEATHS = 3
STANDBY_LOG = "standby.log"  # beside the runs folder: why a standby died, when one does


def warm_worker_wanted() -> bool:
    return os.environ.get("TLSTUDIO_WARM_WORKER", "1").strip().lower() not in ("0", "false", "no")


def describe_exit(code: int | None, run_dir: Path | None = None) -> str:
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


class Runner:
    """Starts queued runs as `python -m tlcore worker RUN_DIR`, one at a time per device. Thread-safe.

    Two runs on one device would each take twice as long and could run out of memory together.
    A run on a GPU and one on the CPU compete only for the processor's cores (the GPU run's data
    preparation), so they may train side by side.
    """

    def __init__(self, runs_dir: str | Path | None = None, poll_s: float = 0.5,
                 between_ticks: Callable[["Runner"], None] | None = None, between_ticks_s: float = 2.0,
                 warm_worker: bool | None = None):
        """
        Args:
            between_ticks: called from the dispatch thread every between_ticks_s (the app moves its
                experiments on here, so no page needs to be open for their next runs to be queued).
            warm_worker: keep a standby worker with torch imported while no run trains, and hand it
                the next run (tlcore.runs.standby); off, every run starts a fresh worker. Default:
                on, unless TLSTUDIO_WARM_WORKER=0 says otherwise.
        """
        self.runs_dir = runs.resolve_runs_dir(runs_dir)
        self.poll_s = poll_s
        self._between_ticks = between_ticks
        self._between_ticks_s = between_ticks_s
        self._last_between = 0.0
        self._children: dict[str, subprocess.Popen] = {}
        self._cancel_asked: dict[str, float] = {}
        self._silent_since: dict[str, float] = {}  # runs whose live worker stopped beating, since when
        self._terminated: set[str] = set()  # runs whose worker was sent SIGTERM after an unheard cancel
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._warm_worker = warm_worker_wanted() if warm_worker is None else warm_worker
        self._standby: Standby | None = None
        self._standby_deaths = 0  # standbys that died young in a row: past a few, runs start fresh
        self._created = time.monotonic()
        self.reconcile()

    # -- public API --------------------------------------------------------------------------
    def submit(self, config: RunConfig, manifest: Manifest | None = None) -> str:
        """Queue a run (on the dataset as checked, when given); returns its id. ConfigError when refused."""
        run_dir = runs.create_run(config, self.runs_dir, manifest)
        self._wake.set()
        return run_dir.name

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def cancel(self, run_id: str) -> None:
        """A queued run is cancelled at once; a running one is asked to stop and signalled if it does not."""
        run_dir = self.run_dir(run_id)
        with self._lock, self._dispatch_lock():
            state = runs.read_status(run_dir).get("state")
            if state == "queued":
                runs.update_status(run_dir, state="cancelled", ended_at=time.time(), error=None)
            elif state == "running":
                runs.request_cancel(run_dir)
                self._cancel_asked.setdefault(run_id, time.monotonic())
        self._wake.set()

    def active(self) -> list[str]:
        return [r.run_id for r in runs.list_runs(self.runs_dir, with_notes=False) if r.state == "running"]

    def start(self) -> "Runner":
        """Start the dispatch thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="tlcore-runner", daemon=True)
                self._thread.start()
        return self

    def stop(self, cancel_running: bool = False) -> None:
        if cancel_running:
            for run_id in self.active():
                self.cancel(run_id)
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self._lock:
            if self._standby is not None:
                self._standby.dismiss()
                self._standby = None

    def wait(self, run_id: str, timeout: float = 600) -> dict:
        """Block until the run reaches a final state (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            status = runs.read_status(self.run_dir(run_id))
            if status.get("state") in runs.FINAL_STATES:
                return status
            time.sleep(self.poll_s)
        raise TimeoutError(f"Run {run_id} did not finish within {timeout} s.")

    # -- the dispatch loop --------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                if self._between_ticks and time.monotonic() - self._last_between >= self._between_ticks_s:
                    self._last_between = time.monotonic()
                    self._between_ticks(self)
            except Exception as exc:  # the loop must outlive one bad run folder
                print(f"runner: {exc!r}", file=sys.stderr)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    @contextmanager
    def _dispatch_lock(self):
        with open(self.runs_dir / ".dispatch.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def tick(self) -> None:
        """Check running workers, escalate stale cancels, start the next queued run of each free device."""
        with self._lock, self._dispatch_lock():
            all_runs = runs.list_runs(self.runs_dir, with_notes=False)
            self._reap_finished(all_runs)
            busy = set().union(*(device_slots(s.config) for s in all_runs
                                  if s.state == "running" and self._check_running(s)))
            for summary in in_line(all_runs):
                slots = device_slots(summary.config)
                if not slots & busy:  # a run for a busy device waits; one for other devices may go first
                    self._launch(summary.run_id)
                    busy |= slots
            if not busy:
                self._keep_standby()

    def _keep_standby(self) -> None:
        """With no run training, have a standby worker ready (its imports then cost no run any time)."""
        if not self._warm_worker or self._stop.is_set() or time.monotonic() - self._created < STANDBY_DELAY_S:
            return
        if self._standby is not None and self._standby.alive():
            return
        if self._standby is not None:  # it died unasked: reaped, and replaced unless that keeps happening
            self._standby_deaths = self._standby_deaths + 1 if self._standby.age_s() < STANDBY_YOUNG_S else 1
            self._standby.dismiss()
            self._standby = None
        if self._standby_deaths >= STANDBY_MAX_DEATHS:
            return  # something kills them (a broken install, the memory): runs start fresh, and say why
        try:
            self._standby = start_standby(self.runs_dir.parent / STANDBY_LOG)
        except OSError:
            self._standby = None  # no process to spare now: runs start fresh workers, as without one

    def _reap_finished(self, all_runs) -> None:
        """Collect the exit of workers whose runs have ended, so none stays behind as a zombie process.

        A worker that wrote its final status is no longer checked as running; without this its
        process entry would wait for the server to exit.
        """
        running = {summary.run_id for summary in all_runs if summary.state == "running"}
        for run_id, child in list(self._children.items()):
            if run_id not in running and child.poll() is not None:
                self._forget(run_id)

    def reconcile(self) -> None:
        """At start-up: runs left 'running' by a worker that is gone (or hung) become 'interrupted'."""
        with self._lock, self._dispatch_lock():
            for summary in runs.list_runs(self.runs_dir, with_notes=False):
                if summary.state != "running" or self._worker_alive(summary):
                    continue
                pid = summary.status.get("pid")
                if pid_alive(pid) and not is_worker_of(pid, summary.run_dir):
                    continue  # a live process of another kind (a CLI run, paused perhaps): tick() watches it
                kill_worker(pid, summary.run_dir)  # a hung one must not train beside the next run
                runs.update_status(summary.run_dir, state="interrupted", ended_at=time.time(),
                                   error="The server stopped while this run was training, so it was interrupted.")

    def _worker_alive(self, summary) -> bool:
        """Its process lives and its heartbeat is fresh."""
        return self._process_alive(summary) and self._beating(summary)

    @staticmethod
    def _process_alive(summary) -> bool:
        # A child between fork and exec still shows its parent's command line: checked once settled.
        settled = time.time() - (summary.status.get("started_at") or 0) > WORKER_START_S
        return pid_alive(summary.status.get("pid"), check_command=settled)

    @staticmethod
    def _beating(summary) -> bool:
        status = summary.status
        heartbeat = status.get("heartbeat_at") or status.get("started_at") or 0
        return time.time() - heartbeat < HEARTBEAT_STALE_S

    def _check_running(self, summary) -> int:
        """Returns 1 if the run still holds its device, 0 once its worker is gone (dead, or stopped as hung)."""
        run_id, pid = summary.run_id, summary.status.get("pid")
        child = self._children.get(run_id)
        code = child.poll() if child else None
        if code is None and self._process_alive(summary):
            if self._beating(summary):
                self._silent_since.pop(run_id, None)
                stall = stalled_stage(summary.status)
                if stall is not None and is_worker_of(pid, summary.run_dir):
                    return self._stop_stalled(summary, child, *stall)
                self._escalate_cancel(summary)
                return 1
            if not is_worker_of(pid, summary.run_dir):
                return 1  # not a worker of ours (a CLI run in a terminal, paused perhaps): it holds the device
            silent_since = self._silent_since.setdefault(run_id, time.monotonic())
            if time.monotonic() - silent_since < HEARTBEAT_STALE_S:
                return 1  # perhaps the machine just woke up: its heartbeat may come back
            kill_worker(pid, summary.run_dir)
            if child:
                reap(child)
            self._end(summary, f"The training process stopped responding (no sign of life for over "
                               f"{2 * HEARTBEAT_STALE_S:.0f} s), so it was stopped.")
            return 0
        if child and code is None:
            code = reap(child)  # it died between poll() and the liveness check
        if runs.read_status(summary.run_dir).get("state") == "running":  # it may have finished since we listed
            self._end(summary, describe_exit(code if child else None, summary.run_dir))
        self._forget(run_id)
        return 0

    def _stop_stalled(self, summary, child, stage: str, still_s: float) -> int:
        """Kill a worker whose work stopped moving though it still beats; its run fails saying where."""
        kill_worker(summary.status.get("pid"), summary.run_dir)
        if child:
            reap(child)
        self._end(summary, stall_message(stage, still_s))
        return 0

    def _escalate_cancel(self, summary) -> None:
        """A cancel the worker has not honoured: SIGTERM once after a grace period, SIGKILL after three."""
        asked = self._cancel_asked.get(summary.run_id)
        if asked is None:
            return
        waited = time.monotonic() - asked
        if waited > 3 * CANCEL_GRACE_S:
            kill_worker(summary.status.get("pid"), summary.run_dir)
        elif waited > CANCEL_GRACE_S and summary.run_id not in self._terminated:
            self._terminated.add(summary.run_id)
            pid = summary.status.get("pid")
            if is_worker_of(pid, summary.run_dir):  # never a signal to a PID the status file merely names
                try:
                    os.kill(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass

    def _end(self, summary, error: str) -> None:
        """A run whose worker is gone: cancelled if someone asked for that, else failed with the reason."""
        if summary.run_id in self._cancel_asked:
            runs.update_status(summary.run_dir, state="cancelled", ended_at=time.time(), error=None)
        else:
            runs.update_status(summary.run_dir, state="failed", ended_at=time.time(), error=error)
        self._forget(summary.run_id)

    def _forget(self, run_id: str) -> None:
        for table in (self._children, self._cancel_asked, self._silent_since):
            table.pop(run_id, None)
        self._terminated.discard(run_id)

    def _launch(self, run_id: str) -> None:
        run_dir = self.run_dir(run_id)
        standby, self._standby = self._standby, None
        if standby is not None and standby.alive():
            try:
                # Marked first: the worker's own status writer starts from this record, tag included.
                runs.update_status(run_dir, state="running", pid=standby.process.pid, worker_tag=standby.tag,
                                   started_at=time.time(), heartbeat_at=time.time())
                handed = standby.hand_over(run_dir)
            except OSError:  # the status could not be written (a full disk): a fresh worker will say why
                handed = False
            if handed:
                self._children[run_id] = standby.process
                return
        if standby is not None:
            standby.dismiss()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            with open(run_dir / "worker.log", "ab") as log:
                # A plain process, not multiprocessing: under `streamlit run` a spawned child would re-run the app.
                child = subprocess.Popen([sys.executable, "-m", "tlcore", "worker", str(run_dir)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, env=env,
                                         cwd=paths.PROJECT_DIR)
        except OSError as error:  # a full disk, a run folder removed, no memory to fork: this run fails, the queue goes on
            reason = (f"The disk is full ({run_dir.parent})" if is_disk_full(error)
                      else f"The training process could not be started ({error.strerror or error})")
            runs.update_status(run_dir, state="failed", ended_at=time.time(), error=f"{reason}.")
            return
        self._children[run_id] = child
        # Mark it running with the PID now, so the next tick does not start it twice.
        runs.update_status(run_dir, state="running", pid=child.pid, worker_tag=None, started_at=time.time(),
                           heartbeat_at=time.time())


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

    asked = config.device if config else "auto"
    try:
        device = resolve_device(asked)
    except ValueError:
        return asked  # not available here: its worker fails at once with the reason
    return f"{device.type}:{device.index or 0}"


def in_line(summaries: list[runs.RunSummary]) -> list[runs.RunSummary]:
    """The queued runs, first come first served."""
    return sorted((s for s in summaries if s.state == "queued"), key=lambda s: (s.created_at, s.run_id))


def queue_places(summaries: list[runs.RunSummary]) -> dict[str, int]:
    """Each queued run's place in the line for its device (1: next to start there)."""
    places, counts = {}, {}
    for summary in in_line(summaries):
        slots = device_slots(summary.config)
        place = 1 + max(counts.get(slot, 0) for slot in slots)  # behind every run queued for one of its devices
        for slot in slots:
            counts[slot] = place
        places[summary.run_id] = place
    return places

"""Background runner: a queue on disk, one worker process at a time per device, cancel, recovery.

The queue is the run store itself: a queued run is a folder whose status says "queued", so a
restarted server, a second browser or a second server process sees the same queue. Dispatch is
serialized across processes with a file lock on the runs folder. What becomes of a live worker is
decided by the rules in tlcore.runs.supervision.liveness; the runner acts on their verdicts.
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

from tlcore import runs
from tlcore.config import RunConfig
from tlcore.data.manifest import Manifest
from tlcore.diskspace import is_disk_full
from tlcore.people.person import LOCAL, Person
from tlcore.runs.store.folder import RunFolder
from tlcore.runs.store.owners import check_may_change, open_run
from tlcore.runs.supervision import liveness
from tlcore.runs.supervision.dispatch import describe_exit, device_slots, in_line
from tlcore.runs.supervision.processes import is_worker_of, kill_worker, pid_alive, reap, start_worker
from tlcore.runs.supervision.standby import STANDBY_LOG, StandbyPool


def warm_worker_wanted() -> bool:
    return os.environ.get("TLSTUDIO_WARM_WORKER", "1").strip().lower() not in ("0", "false", "no")


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
                the next run (tlcore.runs.supervision.standby); off, every run starts a fresh worker.
                Default: on, unless TLSTUDIO_WARM_WORKER=0 says otherwise.
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
        self.standby = StandbyPool(self.runs_dir.parent / STANDBY_LOG,
                                   warm_worker_wanted() if warm_worker is None else warm_worker)
        self.reconcile()

    # -- public API --------------------------------------------------------------------------
    def submit(self, config: RunConfig, manifest: Manifest | None = None, owner: Person = LOCAL) -> str:
        """Queue a run for its owner (on the dataset as checked, when given); returns its id.

        Raises ConfigError when the studio refuses the config, RuleRefusal when the class's rules do."""
        run_dir = runs.create_run(config, self.runs_dir, manifest, owner=owner)
        self._wake.set()
        return run_dir.name

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def cancel(self, run_id: str, person: Person = LOCAL) -> None:
        """A queued run is cancelled at once; a running one is asked to stop and signalled if it does not.

        On a person's behalf: their own run, or any for the teacher (NoSuchRun or NotYours otherwise)."""
        folder = open_run(run_id, person, self.runs_dir)
        check_may_change(person, folder.path, "cancel")
        with self._lock, self._dispatch_lock():
            state = folder.read_status().get("state")
            if state == "queued":
                folder.update_status(state="cancelled", ended_at=time.time(), error=None)
            elif state == "running":
                folder.request_cancel()
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
            self.standby.dismiss()

    def wait(self, run_id: str, timeout: float = 600) -> dict:
        """Block until the run reaches a final state (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            status = RunFolder(self.run_dir(run_id)).read_status()
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
            if not busy and not self._stop.is_set():
                self.standby.keep_ready()

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
                status, pid = summary.status, summary.status.get("pid")
                if summary.state != "running" or (self._process_alive(status) and liveness.beating(status)):
                    continue
                if pid_alive(pid) and not is_worker_of(pid, summary.run_dir):
                    continue  # a live process of another kind (a CLI run, paused perhaps): tick() watches it
                kill_worker(pid, summary.run_dir)  # a hung one must not train beside the next run
                RunFolder(summary.run_dir).update_status(
                    state="interrupted", ended_at=time.time(),
                    error="The server stopped while this run was training, so it was interrupted.")

    @staticmethod
    def _process_alive(status: dict) -> bool:
        # A child between fork and exec still shows its parent's command line: checked once settled.
        return pid_alive(status.get("pid"), check_command=liveness.settled(status))

    def _check_running(self, summary) -> bool:
        """Whether the run still holds its device; False once its worker is gone (dead, or stopped)."""
        run_id, status, pid = summary.run_id, summary.status, summary.status.get("pid")
        child = self._children.get(run_id)
        code = child.poll() if child else None
        alive = code is None and self._process_alive(status)
        ours = alive and is_worker_of(pid, summary.run_dir)
        if alive and not liveness.beating(status):
            silent_for = time.monotonic() - self._silent_since.setdefault(run_id, time.monotonic())
        else:
            silent_for = 0.0
            self._silent_since.pop(run_id, None)
        verdict = liveness.judge_worker(status, exited=code is not None, alive=alive, ours=ours,
                                        silent_for=silent_for)
        if verdict.outcome == liveness.TRAINING:
            self._escalate_cancel(summary)
        if verdict.holds_device:
            return True
        if verdict.outcome in (liveness.HUNG, liveness.STALLED):
            kill_worker(pid, summary.run_dir)
        if child and code is None:
            code = reap(child)  # killed now, or it died between poll() and the liveness check
        if verdict.reason is not None:
            self._end(summary, verdict.reason)
        elif RunFolder(summary.run_dir).read_status().get("state") == "running":  # it may have finished since
            self._end(summary, describe_exit(code if child else None, summary.run_dir))
        self._forget(run_id)
        return False

    def _escalate_cancel(self, summary) -> None:
        """A cancel the worker has not honoured: SIGTERM once after a grace period, SIGKILL after three."""
        asked = self._cancel_asked.get(summary.run_id)
        if asked is None:
            return
        step = liveness.cancel_step(time.monotonic() - asked, summary.run_id in self._terminated)
        pid = summary.status.get("pid")
        if step == "kill":
            kill_worker(pid, summary.run_dir)
        elif step == "terminate":
            self._terminated.add(summary.run_id)
            if is_worker_of(pid, summary.run_dir):  # never a signal to a PID the status file merely names
                try:
                    os.kill(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass

    def _end(self, summary, error: str) -> None:
        """A run whose worker is gone: cancelled if someone asked for that, else failed with the reason."""
        folder = RunFolder(summary.run_dir)
        if summary.run_id in self._cancel_asked:
            folder.update_status(state="cancelled", ended_at=time.time(), error=None)
        else:
            folder.update_status(state="failed", ended_at=time.time(), error=error)
        self._forget(summary.run_id)

    def _forget(self, run_id: str) -> None:
        for table in (self._children, self._cancel_asked, self._silent_since):
            table.pop(run_id, None)
        self._terminated.discard(run_id)

    def _launch(self, run_id: str) -> None:
        """Hand the run to the standby worker, or start a fresh worker for it; marked running with its pid."""
        folder = RunFolder(self.run_dir(run_id))
        standby = self.standby.take()
        if standby is not None:
            try:
                # Marked first: the worker's own status writer starts from this record, tag included.
                folder.update_status(state="running", pid=standby.process.pid, worker_tag=standby.tag,
                                     started_at=time.time(), heartbeat_at=time.time())
                handed = standby.hand_over(folder.path)
            except OSError:  # the status could not be written (a full disk): a fresh worker will say why
                handed = False
            if handed:
                self._children[run_id] = standby.process
                return
            standby.dismiss()
        try:
            child = start_worker(folder)
        except OSError as error:  # a full disk, a run folder removed, no memory to fork: this run fails, the queue goes on
            reason = (f"The disk is full ({folder.path.parent})" if is_disk_full(error)
                      else f"The training process could not be started ({error.strerror or error})")
            folder.update_status(state="failed", ended_at=time.time(), error=f"{reason}.")
            return
        self._children[run_id] = child
        # Mark it running with the PID now, so the next tick does not start it twice.
        folder.update_status(state="running", pid=child.pid, worker_tag=None, started_at=time.time(),
                             heartbeat_at=time.time())

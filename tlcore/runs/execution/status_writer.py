"""The worker's one writer of status.json: progress from the run's steps, a heartbeat from a thread."""
import threading
import time

from tlcore.runs.store.folder import RunFolder


class StatusWriter:
    """Keeps the run's status in memory and writes it whole (atomically) on every change.

    ``progress_at`` tells the runner's watchdog when the work last moved: every update from the work
    itself, and the latest time ``progress_clock`` reports (the loop checking for a cancel, once a
    batch). The heartbeat alone proves only that the process lives.
    """

    def __init__(self, folder: RunFolder, heartbeat_s: float = 2.0, progress_clock=None):
        self.folder = RunFolder(folder)
        self.status = self.folder.read_status()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat_s = heartbeat_s
        self._progress_clock = progress_clock
        self._thread = None

    def update(self, **fields) -> None:
        now = time.time()
        with self._lock:
            self.status.update(fields, heartbeat_at=now, progress_at=now)
            self.folder.write_status(self.status)

    def stage(self, name: str, **details) -> None:
        """The run's stage, in the status: what it is doing now ("scanning", "training"...)."""
        self.update(stage={"name": name, **details})

    def beat(self) -> None:
        """Say the process lives, and when its work last moved."""
        with self._lock:
            self.status["heartbeat_at"] = time.time()
            if self._progress_clock is not None:
                self.status["progress_at"] = max(self.status.get("progress_at") or 0.0, self._progress_clock())
            self.folder.write_status(self.status)

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

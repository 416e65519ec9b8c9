"""A run's cancel, as its worker sees it: a file in the run folder, or a signal to the process."""
import signal
import threading
import time
from contextlib import contextmanager

from tlcore.runs.store.folder import RunFolder
from tlcore.training.phase_inputs import StopRequested


class CancelFlag:
    """True once a cancel file appears in the run folder or the process gets SIGTERM/SIGINT.

    The loop polls it between batches. A second signal means the first went unheard (a step that
    takes minutes, weights being fetched; a person pressing Ctrl-C again): while the run's work is
    under way (``armed``), it raises StopRequested at once, wherever the worker is, so the run still
    ends as cancelled with its folder in order. Once the work is over, the final status is written
    whatever arrives.
    """

    def __init__(self, folder: RunFolder):
        self.folder = RunFolder(folder)
        self.signalled = threading.Event()
        self.armed = False
        self.last_asked_at = time.time()  # the work loop asks once a batch: when it last did, the work moved
        self._last_check = 0.0
        self._requested = False

    @contextmanager
    def signal_handlers(self):
        """SIGTERM and SIGINT set the flag (and, the second time, stop the work) inside the block."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, *_) -> None:
        if self.signalled.is_set() and self.armed:
            raise StopRequested()
        self.signalled.set()

    def __call__(self) -> bool:
        self.last_asked_at = time.time()
        if self.signalled.is_set() or self._requested:
            return True
        now = time.monotonic()
        if now - self._last_check > 0.1:  # a stat per batch is cheap, but cached-feature batches take microseconds
            self._last_check = now
            self._requested = self.folder.cancel_requested()
        return self._requested

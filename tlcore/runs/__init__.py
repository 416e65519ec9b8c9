"""Runs: the store of run folders, executing a run, supervising its process, and experiments.

Four rooms, and imports run one way between them (tests/test_layers.py checks it):

    store/        run folders (RunFolder: every file of a run, named once), making, listing, notes, owners,
                  predictions, the runs a run starts from. Below the others; folder and listing need no torch.
    execution/    one run executed in its worker process: the run's data, its phase data, the recorder
                  that writes its events and status, the work meter. Imports the store.
    experiments/  grids of ordinary runs, their queue and the built-in lessons. Imports the store.
    supervision/  the runner (a queue on disk, one worker per device), the standby worker, processes,
                  liveness and cancel rules, the watchdog, the launch of a run's processes. Imports
                  the store and execution (the worker command's entry).

``from tlcore import runs`` gives the store's API; create_run checks a config against the registries,
which brings torch: it is imported on first use, so a page that only lists runs draws without torch.
"""
from tlcore.runs.store.folder import FINAL_STATES, STATES, EventLog, RunFolder, resolve_runs_dir
from tlcore.runs.store.listing import RunSummary, list_runs

__all__ = ["FINAL_STATES", "STATES", "EventLog", "RunFolder", "RunSummary", "create_run", "list_runs",
           "resolve_runs_dir"]


def __getattr__(name: str):
    if name == "create_run":
        from tlcore.runs.store.creation import create_run
        return create_run
    raise AttributeError(f"module 'tlcore.runs' has no attribute '{name}'")

"""Run folders (the contract between workers and pages), the worker and the runner.

``from tlcore import runs`` gives the run store's API (create, read, update, list); the worker and
the runner are imported from their own modules, as they bring torch and processes with them.
create_run checks a config against the strategy registry, which brings torch: it is imported on
first use, so a page that only lists runs (the home page) draws without torch.
"""
from tlcore.runs.listing import RunSummary, list_runs
from tlcore.runs.store import (CHECKED_MANIFEST, FINAL_STATES, STATES, EventLog, append_event, cancel_requested,
                               load_config, read_events, read_status, request_cancel, resolve_runs_dir,
                               update_status)

__all__ = ["CHECKED_MANIFEST", "FINAL_STATES", "STATES", "EventLog", "RunSummary", "append_event", "cancel_requested", "create_run",
           "list_runs", "load_config", "read_events", "read_status", "request_cancel", "resolve_runs_dir",
           "update_status"]


def __getattr__(name: str):
    if name == "create_run":
        from tlcore.runs.creation import create_run
        return create_run
    raise AttributeError(f"module 'tlcore.runs' has no attribute '{name}'")

"""Making a run: its config checked against the registries and its starting point, then its folder."""
from pathlib import Path

from tlcore.config import RunConfig
from tlcore.data.manifest import Manifest
from tlcore.runs.sources import STARTED_FROM_FILE, check_start, new_chain
from tlcore.runs.store import make_run_folder
from tlcore.training.strategies import check_config


def create_run(config: RunConfig, runs_dir: str | Path | None = None, manifest: Manifest | None = None,
               claimed_by: int | None = None) -> Path:
    """Make a new run folder holding the config, a queued status and where its network comes from.

    Args:
        manifest: the dataset as the person checked it (the Data page); the worker trains on it
            rather than scanning the folder again. Without one the worker scans config.data.
        claimed_by: the pid of a process that trains it at once itself (the CLI), see make_run_folder.

    Returns:
        The run folder; its name is the run id.

    Raises:
        ConfigError: the registries refuse the config (an unknown strategy, a missing target...), or
            the run it starts from cannot be built on (unfinished, deleted, another network).
    """
    check_config(config)
    source = check_start(config)
    return make_run_folder(config, runs_dir, manifest, files={STARTED_FROM_FILE: new_chain(config, source)},
                           claimed_by=claimed_by)

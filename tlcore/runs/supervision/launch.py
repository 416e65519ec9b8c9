"""A run trained by several processes on this machine, started through torch.distributed's own launcher;
and the worker command's entry, which trains a run here or launches its processes.

The launcher (torchrun's, called as a library) starts one `python -m tlcore worker RUN_DIR` per
process with RANK, WORLD_SIZE and LOCAL_RANK set, through a rendezvous on this machine, watches them,
and stops the others when one fails. Rank 0 writes the run folder; when a process dies before rank 0
could say why (killed, out of memory), the run's status is written here with the launcher's reason.
"""
import json
import os
import signal
import sys
from pathlib import Path

from tlcore.config import ConfigError
from tlcore.cpus import usable_cpu_count
from tlcore.device import resolve_device
from tlcore.runs.execution.launched import LAUNCHER_ENV
from tlcore.runs.execution.status_writer import StatusWriter
from tlcore.runs.execution.worker import execute_run, record_final
from tlcore.runs.store.folder import FINAL_STATES, RunFolder
from tlcore.training.distributed import world_from_env

MONITOR_INTERVAL_S = 0.5


def check_devices(config) -> None:
    """Refuse, before anything starts, more processes than this machine has GPUs, or cores on the CPU."""
    import torch

    device = resolve_device(config.device)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if config.processes > count:
            raise ConfigError(f"{config.processes} processes need {config.processes} GPUs; this machine has "
                              f"{count}. Ask for at most {count}.")
    elif device.type == "cpu":
        cores = usable_cpu_count()
        if config.processes > cores:
            raise ConfigError(f"{config.processes} processes on the CPU need a core each; this machine gives "
                              f"{cores}. Ask for at most {cores}.")
    else:
        raise ConfigError(f"Several processes train on GPUs (NCCL) or on the CPU (gloo), not on {device.type}.")


def child_environment(processes: int) -> dict[str, str]:
    """Variables the processes need beside torchrun's: their share of the cores, a local network."""
    env = {LAUNCHER_ENV: str(os.getpid())}
    if "OMP_NUM_THREADS" not in os.environ:  # the cores shared out, not every process using all of them
        env["OMP_NUM_THREADS"] = str(max(1, usable_cpu_count() // processes))
    if "GLOO_SOCKET_IFNAME" not in os.environ:  # one machine: the loopback, whatever the host name resolves to
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


def first_cause(failures: dict) -> tuple:
    """(rank, failure) of the process that ended the run, from torchrun's {rank: ProcessFailure}.

    A process stopped by a signal (killed, out of memory) is the cause; its peers then either fail on
    their next collective (exit code 1) or are stopped by the launcher itself (SIGTERM), often in the
    same monitoring round, where torchrun's "first failure" (timestamps in whole seconds, ties to the
    lowest rank) may name one of them instead.
    """
    def order(item):
        rank, failure = item
        stopped_by_launcher = failure.exitcode == -signal.SIGTERM
        kind = 0 if failure.exitcode < 0 and not stopped_by_launcher else 1 if failure.exitcode > 0 else 2
        return kind, failure.timestamp, rank

    return min(failures.items(), key=order)


def train_with_processes(run_dir: Path, processes: int) -> dict:
    """Train run_dir with that many processes on this machine; returns its final status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    folder = RunFolder(run_dir)
    try:
        check_devices(folder.load_config())
    except ConfigError as error:
        record_final(StatusWriter(folder), {"state": "failed", "error": str(error)})
        return folder.read_status()
    launch = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=folder.run_id,
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=MONITOR_INTERVAL_S)
    added = child_environment(processes)
    saved = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        elastic_launch(launch, sys.executable)("-m", "tlcore", "worker", str(folder.path), "--no-summary")
        reason = None
    except ChildFailedError as error:
        rank, failure = first_cause(error.failures)
        how = f"was stopped by {failure.signal_name()}" if failure.exitcode < 0 else \
            f"ended with exit code {failure.exitcode}"
        reason = f"Process {rank} of {processes} {how}; the run stopped on every process."
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    status = folder.read_status()
    if status.get("state") not in FINAL_STATES:  # rank 0 itself was killed: the launcher's reason is the run's
        record_final(StatusWriter(folder), {"state": "failed", "error": reason or
                                            "The processes ended without saying how the run ended."})
    elif reason and status.get("state") == "failed" and "stopped answering" in (status.get("error") or ""):
        StatusWriter(folder).update(error=f"{reason} Rank 0 saw: {status['error']}")  # which one, and how
    return folder.read_status()


def run_worker(run_dir: str, summary: bool = True) -> int:
    """Entry point of `python -m tlcore worker RUN_DIR`; exit code 0 unless the run failed.

    summary: end with one JSON line (the state and error); with several processes rank 0's alone."""
    world = world_from_env()
    try:
        processes = RunFolder(run_dir).load_config().processes if not world.active else 1
    except (OSError, ValueError, TypeError, RecursionError):  # a damaged or missing config: the run fails, saying so
        processes = 1
    if processes > 1:  # this process launches the run's processes and waits for them
        final = train_with_processes(Path(run_dir), processes)
    else:
        final = execute_run(Path(run_dir), world=world)
    try:
        if summary and world.writes:
            print(json.dumps({"state": final["state"], "error": final.get("error")}), flush=True)
    except OSError:
        pass  # the log is on a full disk; the status file says it all
    return 0 if final["state"] != "failed" else 1

"""Worker processes as the runner sees them: alive or not, ours or not, and how to stop them.

The runner only ever signals a process it can prove is the `python -m tlcore worker RUN_DIR` of
that run: a PID in a status file may be stale, reused by another program, or damaged.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

from tlcore import paths
from tlcore.records import PID, fits
from tlcore.runs.store.folder import RunFolder


def pid_alive(pid: int | None, check_command: bool = True) -> bool:
    """Whether pid is a live process and, where /proc tells and check_command asks, a tlcore one
    rather than a reused PID. A child between fork and exec still shows its parent's command line,
    so a freshly started worker is checked without it."""
    if not fits(pid, PID):  # 0 and -1 address process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the PID answering is all we can know
    if stat.split(")")[-1].split()[0] == "Z":
        return False  # a zombie has finished; only its exit code is left
    return not check_command or b"tlcore" in (_proc_command_line(pid) or b"")


def reap(child: subprocess.Popen) -> int | None:
    """The exit code of a child found dead (a zombie is reaped at once); None if it still runs."""
    try:
        return child.wait(timeout=1)
    except subprocess.TimeoutExpired:
        return None


def is_worker_of(pid: int | None, run_dir: Path) -> bool:
    """Whether pid is the `python -m tlcore worker RUN_DIR` process of this run (not a reused PID, not a
    CLI run): the only processes the runner may kill. A standby worker handed the run names it by the
    tag its command line and the run's status share (tlcore.runs.supervision.standby)."""
    command = _command_line(pid)
    if not command or b"tlcore worker" not in command:
        return False
    if Path(run_dir).name.encode() in command:
        return True
    tag = RunFolder(run_dir).read_status().get("worker_tag")
    return bool(tag) and f"--standby {tag} ".encode() in command + b" "  # the whole tag, not a prefix of it


def kill_worker(pid: int | None, run_dir: Path) -> None:
    """SIGKILL a run's worker and anything it started (it leads its own process group)."""
    if not is_worker_of(pid, run_dir):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _proc_command_line(pid: int) -> bytes | None:
    """A process's arguments joined by spaces, from /proc; None without /proc or without the process."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None


def _command_line(pid: int | None) -> bytes | None:
    if not fits(pid, PID):
        return None
    command = _proc_command_line(pid)
    if command is not None:
        return command
    try:  # no /proc (macOS)
        done = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def start_worker(folder: RunFolder) -> subprocess.Popen:
    """Start `python -m tlcore worker RUN_DIR` for a run, its output into the run's worker.log, in a
    session of its own (it outlives a server restart and is found again by its pid). OSError when no
    process can be started (a full disk, a run folder removed, no memory to fork)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(folder.worker_log_path, "ab") as log:
        # A plain process, not multiprocessing: under `streamlit run` a spawned child would re-run the app.
        return subprocess.Popen([sys.executable, "-m", "tlcore", "worker", str(folder.path)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env, cwd=paths.PROJECT_DIR)

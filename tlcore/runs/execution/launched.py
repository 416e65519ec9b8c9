"""What a process that a launcher started (tlcore.runs.supervision.launch) knows of its launcher, and how it ends with it."""
import os
import signal

# Set for the processes a launcher starts: the launcher's pid, which the run's status names as its
# worker (the runner watches and stops it), and whose death ends them too.
LAUNCHER_ENV = "TLSTUDIO_LAUNCHER_PID"


def end_with_launcher(launcher_pid: int) -> None:
    """Have the kernel stop this process when its launcher dies (Linux): the launcher's processes run in
    sessions of their own, where a signal to the launcher's process group would not reach them."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the launcher's own stop of its processes is what remains
    if os.getppid() != launcher_pid:  # it died before the request took hold
        os.kill(os.getpid(), signal.SIGKILL)

"""Which device runs the model (cuda, mps or cpu) and what it can do, in words a person reads."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from tlcore.config import ConfigError
from tlcore.cpus import usable_cpu_count


class DeviceUnavailable(ConfigError):
    """A device asked for that this machine does not have, in words."""

_DEVICE_KINDS = ("auto", "cuda", "mps", "cpu")
_cpu_threads_configured = False


def resolve_device(choice: str | torch.device = "auto") -> torch.device:
    """Turn a device choice into a usable ``torch.device``.

    Args:
        choice: ``"auto"`` (cuda, then mps, then cpu) or an explicit ``"cuda"``, ``"cuda:1"``,
            ``"mps"`` or ``"cpu"``.

    Returns:
        The device. Raises DeviceUnavailable (a ConfigError) when the requested device is not usable here.
    """
    text = str(choice).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in _DEVICE_KINDS:
        raise DeviceUnavailable(f"Unknown device {choice!r}; choose one of: {', '.join(_DEVICE_KINDS)} "
                         "(or 'cuda:N' for a particular GPU).")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable("CUDA was requested but no CUDA GPU is visible to PyTorch.")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailable(f"GPU cuda:{device.index} was requested but PyTorch sees only "
                             f"{count} GPU(s) (cuda:0 to cuda:{count - 1}).")
    if device.type == "mps" and not _mps_available():
        raise DeviceUnavailable("MPS (Apple GPU) was requested but it is not available in this PyTorch build "
                         "or on this machine.")
    return device


def describe_device(device: str | torch.device) -> dict:
    """Say what a device is and what it offers, for the UI and for run records.

    Args:
        device: A ``torch.device`` or a device string such as ``"cpu"`` or ``"cuda:0"``.

    Returns:
        ``{"kind", "name", "memory_gb", "threads", "amp", "label"}``; ``memory_gb`` is the GPU's
        memory on cuda, system memory on cpu, and None where it cannot be told.
    """
    device = torch.device(device)
    threads = torch.get_num_threads()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device.index or 0)
        name, memory_gb = props.name, round(props.total_memory / 2**30, 1)
        label = f"{name} · {memory_gb:.0f} GB"
    elif device.type == "mps":
        name, memory_gb = f"Apple GPU ({platform.machine()})", _mps_memory_gb()
        label = "Apple GPU (MPS)"
    else:
        name, memory_gb = _cpu_model_name(), _system_memory_gb()
        label = f"CPU · {threads} thread{'s' if threads != 1 else ''}"
    return {
        "kind": device.type,
        "name": name,
        "memory_gb": memory_gb,
        "threads": threads,
        # Mixed precision pays off on CUDA tensor cores; on CPU/MPS it is slower or unsupported.
        "amp": device.type == "cuda",
        "label": label,
    }


def configure_cpu_threads() -> int:
    """Use every core this process may run on for torch's intra-op threads, once per process.

    Returns:
        The number of threads torch now uses.
    """
    global _cpu_threads_configured
    # An explicit OMP_NUM_THREADS is the user's decision (e.g. sharing a machine); keep it.
    if not _cpu_threads_configured and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(usable_cpu_count())
    _cpu_threads_configured = True
    return torch.get_num_threads()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def _mps_memory_gb() -> float | None:
    try:
        return round(torch.mps.recommended_max_memory() / 2**30, 1)
    except (AttributeError, RuntimeError):
        return None


def _cpu_model_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _system_memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        return None

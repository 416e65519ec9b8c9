"""Class 4: a small tmpfs as the studio home, run out of room in four ways.

Refused by the free-space check before decoding, out of inodes while the scan writes its cache,
filled to the last byte by another process once training has begun, and a zip too big to unzip.
Each must end with one line "error: The disk is full ...", a final status and no temp file left.
Needs root for `mount`; where it is refused the cases are skipped with a note.
"""
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tlcore.jsonio import read_json

from .bench import TLCORE, TRAIN, Bench
from .checks import error_lines, has_traceback, short
from .zips import noisy_zip

FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")


def class_disk(bench: Bench, shared: dict) -> None:
    """Class 4: a small tmpfs as the studio home, in three ways of running out of room."""
    case_dir = bench.work / "c4"
    cases = [
        dict(name="tmpfs 40 MB: refused before decoding (free-space check)", size="40M",
             data=shared["good"], expect_words=("The disk is full", "need about")),
        dict(name="tmpfs out of inodes while the scan writes its cache", size="300M", inodes=20,
             data=shared["good"], expect_words=("The disk is full",)),
        dict(name="tmpfs filled by another process once training has begun", size="120M", fill=True,
             data=shared["good"], epochs=3, expect_words=("The disk is full",)),
        dict(name="tmpfs 80 MB: a 30 MB zip refused before unzipping", size="80M", zip_mb=30,
             data=None, expect_words=("The disk is full", "the unzipped files")),
    ]
    for case in cases:
        mount = case_dir / f"mnt{cases.index(case)}"
        mount.mkdir(parents=True)
        options = f"size={case['size']}" + (f",nr_inodes={case['inodes']}" if case.get("inodes") else "")
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", mount], check=True,
                           capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as error:
            bench.add(4, "cli", case["name"], True, f"skipped: tmpfs could not be mounted ({short(error, 80)})",
                      skipped=True)
            continue
        bench.mounts.append(mount)
        try:
            disk_case(bench, case, mount, shared)
        finally:
            unmount(bench, mount)


def disk_case(bench: Bench, case: dict, mount: Path, shared: dict) -> None:
    data = case["data"]
    if case.get("zip_mb"):
        data = noisy_zip(shared["good"], mount.parent / f"{mount.name}-data.zip", case["zip_mb"], seed=2)
    train = [*TRAIN]
    train[train.index("--epochs") + 1] = str(case.get("epochs", 1))
    stop, filled = threading.Event(), []
    filler = threading.Thread(target=fill_when_training, args=(mount, stop, filled), daemon=True)
    if case.get("fill"):
        filler.start()
    with bench.watching(mount.parent) as escaped:
        result = bench.run([*TLCORE, "train", data, *train, "--runs-dir", mount / "runs"], home=mount, timeout=120)
    stop.set()
    if case.get("fill"):
        filler.join()
    statuses = [read_json(p, {}) for p in mount.glob("runs/*/status.json")]
    state = statuses[0].get("state") if statuses and isinstance(statuses[0], dict) else None
    temps = [str(p) for p in mount.rglob("*") if p.name.endswith(".tmp")]
    errors = error_lines(result["err"])
    ok = (result["rc"] not in (0, None) and len(errors) == 1 and all(w in errors[0] for w in case["expect_words"])
          and state in FINAL_STATES and not temps and (filled or not case.get("fill")))
    detail = (f"exit {result['rc']}; {short(errors[0] if errors else result['err'][-200:], 150)}; status {state}; "
              f"*.tmp left: {len(temps)}; stderr lines: {len(result['err'].splitlines())}")
    if case.get("fill"):
        detail += f"; filled at: {filled[0] if filled else 'never (the run finished first)'}"
    bench.add(4, "cli", case["name"], ok, detail, tb=has_traceback(result["err"], result["out"]), escaped=escaped,
              stuck=result["stuck"], peak_mb=result["peak_mb"])


def fill_when_training(mount: Path, stop: threading.Event, filled: list) -> None:
    """Once training has begun (after every free-space check), fill the disk to the last byte.

    The run is paused (SIGSTOP) while the disk fills and resumed after, so the first write that
    meets the full disk is the same on every run of the bench, however fast this machine is.
    """
    while not stop.is_set():
        for run_dir in mount.glob("runs/*"):
            try:
                if b'"type":"phase_start"' not in (run_dir / "events.jsonl").read_bytes():
                    continue
                pid = json.loads((run_dir / "status.json").read_text())["pid"]
            except (OSError, ValueError, KeyError):
                continue
            os.kill(pid, signal.SIGSTOP)
            try:
                fd = os.open(mount / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o600)
                for size in (1 << 20, 1 << 12, 1):
                    while True:
                        try:
                            os.write(fd, bytes(size))
                        except OSError:
                            break
                os.close(fd)
            finally:
                os.kill(pid, signal.SIGCONT)
            filled.append("the phase_start event (the run paused while the disk filled)")
            return
        time.sleep(0.005)


def unmount(bench: Bench, mount: Path) -> None:
    for attempt in (["umount", mount], ["umount", "-l", mount]):
        if subprocess.run(attempt, capture_output=True, timeout=30).returncode == 0:
            bench.mounts.remove(mount)
            return

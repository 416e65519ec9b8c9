"""One run of the bench: the header, the shared dataset and run, the classes in order, the report.

Every class reuses one small dataset and one run trained on it (made first, whatever --only says).
The order matters: the Data page cases of class 3 reuse the image corpus of class 1 and the
hostile zip of class 6.
"""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import emit
from imagegen import make_image_folder

from .bench import PY, SCRIPT, TLCORE, TRAIN, Bench
from .checks import has_traceback
from .full_disk import class_disk, unmount
from .images import class_images
from tlcore.limits import class_limits
from .report import CLASS_NAMES, report
from .run_folders import class_runs
from .special_files import class_special_files
from .wording import class_wording

PHASES = {1: class_images, 2: class_runs, 3: class_special_files, 4: class_disk, 5: class_limits, 6: class_wording}
ORDER = (1, 6, 3, 2, 4, 5)  # the image corpus and the hostile zip are reused by the Data page cases of 3


def run_bench(workdir: str, only: set[int], keep: bool) -> bool:
    """Run the classes in ``only`` in a new folder under ``workdir``; True when every case passed."""
    started = time.perf_counter()
    bench = Bench(Path(tempfile.mkdtemp(prefix="tlstudio-reliability-", dir=workdir)))
    try:
        limits = header(bench)
        shared = setup_shared(bench)
        for cls in ORDER:
            if cls in only:
                phase_started = time.perf_counter()
                PHASES[cls](bench, shared)
                emit(phase=cls, name=CLASS_NAMES[cls], seconds=round(time.perf_counter() - phase_started, 1))
        bench.add(1, "all", "the fake gs first on PATH never ran", not bench.gs_ran(),
                  bench.gs_marker.read_text().strip() if bench.gs_ran() else "its marker file is absent")
        return report(bench, limits, time.perf_counter() - started)
    finally:
        bench.kill_strays()
        for mount in list(bench.mounts):
            unmount(bench, mount)
        if keep:
            print(f"\nkept: {bench.work}")
        else:
            shutil.rmtree(bench.work, ignore_errors=True)


def header(bench: Bench) -> dict:
    """Print the machine and versions (from a child, which also reads the limits and weighs torch)."""
    spec = bench.write_spec("header", [{"name": "header", "timeout_s": 120}])
    result = bench.run([PY, SCRIPT, "--child", "header", spec], timeout=180, RELIABILITY_WORKDIR=bench.work)
    bench.torch_mb = result["peak_mb"]
    limits = {}
    for line in result["out"].splitlines():
        if line.startswith('{"name": "header"'):
            limits = json.loads(line)
        elif not line.startswith('{"ready"'):
            print(line)
    if not limits:
        raise SystemExit(f"the header child failed:\n{result['err'][-3000:]}")
    return limits


def setup_shared(bench: Bench) -> dict:
    """The small real dataset (with a FIFO among its pictures) and one run trained on it."""
    shared = bench.work / "shared"
    good = make_image_folder(shared / "good", {"cats": 8, "dogs": 8})
    os.mkfifo(good / "cats" / "pipe.png")
    home = shared / "home"
    with bench.watching(home) as escaped:
        result = bench.run([*TLCORE, "train", good, *TRAIN], home=home, timeout=180)
    line = json.loads(result["out"].strip().splitlines()[-1]) if result["out"].strip() else {}
    if line.get("status") != "succeeded":
        raise SystemExit(f"the baseline run did not succeed:\n{result['out']}\n{result['err'][-3000:]}")
    run_dir = Path(line["run_dir"])
    skipped = json.loads((run_dir / "manifest.json").read_text())["skipped"]
    reason = next((s["reason"] for s in skipped if s["path"] == "cats/pipe.png"), None)
    bench.add(3, "cli", "train on a folder with a FIFO named cats/pipe.png", reason and "named pipe" in reason,
              f"run succeeded in {result['seconds']} s; pipe skipped: {reason}", tb=has_traceback(result["err"]),
              escaped=escaped, stuck=result["stuck"], peak_mb=result["peak_mb"])
    return {"good": good, "run": run_dir}

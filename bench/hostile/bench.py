"""The bench itself: the work folder, the processes it starts, the files that escape, the cases.

Every case runs in a subprocess with a timeout (a hang is a stuck case, not a hung bench), under
/usr/bin/time for its peak memory, with a fake `gs` first on PATH. What changed outside a case's
own folders is found by comparing snapshots of the work folder and ~/.tlstudio.
"""
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from common import ROOT, emit

PY = sys.executable
SCRIPT = Path(__file__).resolve().parents[1] / "reliability.py"  # the children re-invoke it, from any folder
TLCORE = [PY, "-m", "tlcore"]
TRAIN = ["--backbone", "mobilenet_v2", "--strategy", "feature_extraction", "--epochs", "1",
         "--image-size", "64", "--quiet"]
GS_MARKER_ENV = "RELIABILITY_GS_MARKER"


class Bench:
    """The temporary work folder, the subprocess helpers and the table of cases."""

    def __init__(self, work: Path):
        self.work = work
        self.scratch_dir = work / "_bench"  # the bench's own files: never counted as escaped
        self.scratch_dir.mkdir()
        self.gs_marker = self.scratch_dir / "gs-ran"
        self.fake_bin = self.scratch_dir / "bin"
        self.fake_bin.mkdir()
        gs = self.fake_bin / "gs"
        gs.write_text(f'#!/bin/sh\necho "gs $*" >> "${{{GS_MARKER_ENV}:-{self.gs_marker}}}"\nexit 1\n')
        gs.chmod(0o755)
        self.canary = work / "canary"  # outside every case folder: nothing may touch it
        self.canary.mkdir()
        (self.canary / "keep.txt").write_text("the bench checks that nothing changes this folder\n")
        self.cases: list[dict] = []
        self.mounts: list[Path] = []
        self.torch_mb: float | None = None
        self._count = 0

    def scratch(self, stem: str) -> Path:
        self._count += 1
        return self.scratch_dir / f"{stem}-{self._count}"

    def write_spec(self, mode: str, items: list[dict]) -> Path:
        """The items a child process runs, as a file it reads."""
        spec = self.scratch(f"{mode}.json")
        spec.write_text(json.dumps(items))
        return spec

    def env(self, home: Path | None = None, **extra) -> dict:
        """The environment of every subprocess: offline, the fake gs first on PATH, a studio home."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TLSTUDIO_")}
        env.update(PATH=f"{self.fake_bin}{os.pathsep}{os.environ.get('PATH', '')}", TLSTUDIO_OFFLINE="1",
                   PYTHONUNBUFFERED="1", TLSTUDIO_HOME=str(home or self.scratch_dir / "home"))
        env.update({k: str(v) for k, v in extra.items()})
        return env

    # -- subprocesses ------------------------------------------------------------------------------
    def run(self, cmd, *, home: Path | None = None, timeout: float = 120, **extra_env) -> dict:
        """Run a command under /usr/bin/time with a timeout; a hang is killed and reported as stuck."""
        mem = self.scratch("mem")
        started = time.perf_counter()
        proc = subprocess.Popen([*timed(mem), *map(str, cmd)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=self.env(home, **extra_env), cwd=ROOT, start_new_session=True,
                                text=True, errors="replace")
        try:
            out, err = proc.communicate(timeout=timeout)
            stuck = False
        except subprocess.TimeoutExpired:
            self.stop(proc)
            out, err = proc.communicate()
            stuck = True
        return {"rc": None if stuck else proc.returncode, "out": out, "err": err, "stuck": stuck,
                "peak_mb": read_peak_mb(mem), "seconds": round(time.perf_counter() - started, 1)}

    def run_items(self, mode: str, items: list[dict], home: Path | None = None, startup_s: float = 60,
                  **extra_env) -> dict[str, dict]:
        """Run items in a child process of this script, one JSON line back per item.

        An item that does not answer within its own ``timeout_s`` is reported as stuck; the child
        is killed and a new one goes on with the items after it.
        """
        results, remaining = {}, list(items)
        while remaining:
            spec, err_path, mem = self.write_spec(mode, remaining), self.scratch(f"{mode}.err"), self.scratch("mem")
            with open(err_path, "w") as err:
                proc = subprocess.Popen([*timed(mem), PY, SCRIPT, "--child", mode, str(spec)],
                                        stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                        env=self.env(home, **extra_env), cwd=ROOT, start_new_session=True)
            answered, stuck = self._collect(proc, remaining, startup_s)
            if stuck:
                self.stop(proc)
            proc.wait()
            proc.stdout.close()
            peak = read_peak_mb(mem)
            logs = split_item_logs(err_path.read_text(errors="replace"))
            for record in answered:  # the child's own high-water mark; /usr/bin/time's only if it had none
                results[record["name"]] = {"peak_mb": peak, **record, "log": logs.get(record["name"], "")}
            remaining = [item for item in remaining if item["name"] not in results]
            if remaining:  # the first unanswered item hung, or took the child down
                first = remaining.pop(0)
                log = logs.get(first["name"], err_path.read_text(errors="replace")[-2000:])
                results[first["name"]] = {"name": first["name"], "stuck": stuck, "crashed": not stuck, "log": log}
        return results

    def _collect(self, proc, items: list[dict], startup_s: float) -> tuple[list[dict], bool]:
        """Read the child's JSON lines; the deadline restarts after each (startup until it is ready)."""
        answered, buffer, fd = [], b"", proc.stdout.fileno()
        deadline = time.monotonic() + startup_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return answered, True
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return answered, False
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in filter(None, (raw.strip() for raw in lines)):
                record = json.loads(line)
                if not record.get("ready"):
                    answered.append(record)
                if len(answered) < len(items):
                    deadline = time.monotonic() + items[len(answered)].get("timeout_s", 60)

    def stop(self, proc: subprocess.Popen) -> None:
        """Kill a timed-out command's process group, then the workers it started in sessions of their own."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.kill_strays()

    def kill_strays(self) -> None:
        """SIGKILL, by PID, processes this bench started: their command line names its work folder."""
        mark = str(self.work).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mark in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass

    # -- files escaped -----------------------------------------------------------------------------
    def snapshot(self, exclude) -> dict[str, tuple]:
        """Every entry under the work folder (but the excluded case folders) and ~/.tlstudio."""
        skip = {Path(p) for p in exclude} | {self.scratch_dir}
        seen = {}
        for root in (self.work, Path.home() / ".tlstudio"):
            for dirpath, dirnames, filenames in os.walk(root):
                here = Path(dirpath)
                dirnames[:] = [d for d in dirnames if here / d not in skip]
                for name in dirnames + filenames:
                    try:
                        info = (here / name).lstat()
                    except OSError:
                        continue
                    kind = stat.S_IFMT(info.st_mode)
                    seen[str(here / name)] = (kind, 0, 0) if kind == stat.S_IFDIR else \
                        (kind, info.st_size, info.st_mtime_ns)
        return seen

    @contextmanager
    def watching(self, *case_dirs):
        """Collect, into the list it yields, what changed outside case_dirs during the block."""
        before = self.snapshot(case_dirs)
        escaped: list[str] = []
        yield escaped
        after = self.snapshot(case_dirs)
        escaped.extend(sorted(path for path, entry in after.items() if before.get(path) != entry))
        escaped.extend(sorted(path for path in before if path not in after))

    # -- cases -------------------------------------------------------------------------------------
    def add(self, cls: int, surface: str, name: str, ok: bool, detail: str = "", *, tb: bool = False,
            escaped=(), stuck: bool = False, peak_mb: float | None = None, skipped: bool = False) -> None:
        """Record one case: it passed when it behaved as expected, with no traceback, escape or hang."""
        passed = None if skipped else bool(ok) and not tb and not escaped and not stuck
        row = {"n": len(self.cases) + 1, "class": cls, "surface": surface, "case": name, "passed": passed,
               "traceback": bool(tb), "escaped": bool(escaped), "stuck": bool(stuck),
               "peak_mb": round(peak_mb) if peak_mb else None, "detail": detail}
        if escaped:
            row["escaped_paths"] = list(escaped)[:5]
        self.cases.append(row)
        emit(case=row)

    def gs_ran(self) -> bool:
        return self.gs_marker.exists()


def timed(mem: Path) -> list[str]:
    """The /usr/bin/time prefix that writes a command's peak memory to mem (nothing where it is missing)."""
    return ["/usr/bin/time", "-f", "%M", "-o", str(mem)] if os.path.exists("/usr/bin/time") else []


def read_peak_mb(path: Path) -> float | None:
    """The maximum resident set /usr/bin/time wrote (its last line, in KB), in MB."""
    try:
        return int(path.read_text().strip().splitlines()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return None  # killed with its process group: no report


def split_item_logs(text: str) -> dict[str, str]:
    """A child's stderr cut at the markers it writes before each item."""
    logs, name = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("=== item "):
            name = line[len("=== item "):].rstrip("\n").removesuffix(" ===")
            logs[name] = ""
        elif name is not None:
            logs[name] += line
    return logs

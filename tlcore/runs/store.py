"""The run store: one folder per run, the only channel between a training worker and the UI.

Layout of a run folder:
    config.json    what was asked (RunConfig)
    status.json    state, heartbeat, progress, error; rewritten atomically
    events.jsonl   append-only batch and epoch events
    checked_manifest.json  the dataset as the person checked it on the Data page (when started there)
    manifest.json  the dataset as trained on (classes, samples, split, skipped files, warnings)
    target.json    the target pictures as checked, when the run has some
    started_from.json  where its network came from, oldest first: ImageNet, a file or random, then runs
    labels.json    class names in label order
    model_best.pt  checkpoint: state_dict + config + labels (never a pickled model)
    cancel         present when someone asked the run to stop
    notes.json     what the person changed later: name, note, starred (tlcore.runs.notes)
    worker.log     the worker process's own output
"""
import json
import os
import secrets
import shutil
import stat
import time
from pathlib import Path

from tlcore import paths
from tlcore.config import RunConfig
from tlcore.data.manifest import Manifest, TargetSet
from tlcore.jsonio import NotAFile, load_json, read_json, write_json_atomic
from tlcore.records import clean_status, is_valid_event

TARGET_FILE = "target.json"
CHECKED_MANIFEST = "checked_manifest.json"  # the dataset as checked on the Data page, written with the run
STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")


def resolve_runs_dir(runs_dir: str | Path | None = None) -> Path:
    path = Path(runs_dir).expanduser() if runs_dir else paths.runs_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_run_folder(config: RunConfig, runs_dir: str | Path | None = None, manifest: Manifest | None = None,
                    files: dict[str, object] | None = None, claimed_by: int | None = None) -> Path:
    """Make a new run folder holding the config, a queued status and any other JSON files given.

    tlcore.runs.creation.create_run checks the config first; call that one.

    Args:
        manifest: the dataset as the person checked it (the Data page); the worker trains on it
            rather than scanning the folder again. Without one the worker scans config.data.
        files: file name -> JSON value, written with the rest (e.g. started_from.json).
        claimed_by: the process that will train it at once (the CLI): the run is made "running" under
            that pid, never "queued", so a server's runner cannot take it in between.

    Returns:
        The run folder; its name is the run id.
    """
    runs_dir = resolve_runs_dir(runs_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    networks = config.backbone.replace("+", "_")  # a "+" would read as a space in a page address
    run_id = f"{stamp}-{networks}-{config.strategy}-{secrets.token_hex(2)}"
    run_dir = runs_dir / run_id
    run_dir.mkdir()
    try:
        config.save(run_dir / "config.json")
        if manifest is not None:
            manifest.save(run_dir / CHECKED_MANIFEST)
        for name, value in (files or {}).items():
            write_json_atomic(run_dir / name, value)
        now = time.time()
        status = {"state": "queued", "created_at": now} if claimed_by is None else \
            {"state": "running", "created_at": now, "started_at": now, "heartbeat_at": now, "pid": claimed_by}
        write_json_atomic(run_dir / "status.json", status)
        (run_dir / "events.jsonl").touch()
    except OSError as error:  # a full disk: no half-made run folder is left to read as a damaged run
        shutil.rmtree(run_dir, ignore_errors=True)
        if error.filename is None:  # mkstemp does not say where; the person needs to know
            error.filename = str(runs_dir)
        raise
    return run_dir


def load_config(run_dir: Path) -> RunConfig:
    return RunConfig.load(Path(run_dir) / "config.json")


def read_target(run_dir: Path) -> TargetSet | None:
    """The run's target pictures as checked (target.json); None when it has none or the file is damaged."""
    raw = read_json(Path(run_dir) / TARGET_FILE, default=None)
    try:
        return TargetSet.from_dict(raw) if isinstance(raw, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def read_status(run_dir: Path) -> dict:
    """The run's status, always a dict with a valid state, whatever the file on disk holds.

    A damaged or missing status file is rebuilt from the run's last "end" event when there is one
    (a run that succeeded stays succeeded when its model is there); otherwise the run reads as
    failed, with the reason. Fields of the wrong type are dropped (see tlcore.records).
    """
    run_dir = Path(run_dir)
    path = run_dir / "status.json"
    try:
        raw = load_json(path)
        problem = "holds no run status"
    except (FileNotFoundError, NotADirectoryError):
        raw, problem = None, "is missing"
    except NotAFile:
        raw, problem = None, "is not a regular file"
    except (OSError, ValueError) as error:  # not JSON, not text, nested too deep, unreadable
        raw, problem = None, f"is damaged ({getattr(error, 'strerror', None) or type(error).__name__})"
    status = clean_status(raw, STATES)
    return status if status is not None else _rebuilt_status(run_dir, problem)


def _rebuilt_status(run_dir: Path, problem: str) -> dict:
    """What a run's events and files still tell when its status file is gone or damaged."""
    try:
        created = (run_dir / "config.json").stat().st_mtime
    except OSError:
        created = 0.0
    note = f"The run's status file {problem}"
    ends = [e for e in read_events(run_dir)[0] if e.get("type") == "end" and e["state"] in FINAL_STATES]
    if ends:
        final = {k: v for k, v in ends[-1].items() if k not in ("type", "time")}
        if final["state"] != "succeeded" or (run_dir / "model_best.pt").is_file():
            rebuilt = clean_status({"created_at": created, **final}, STATES)
            if rebuilt is not None:
                rebuilt["damaged"] = f"{note}; what is shown was rebuilt from its events."
                return rebuilt
    return {"state": "failed", "created_at": created, "damaged": note,
            "error": f"{note}, and its events do not say how it ended."}


def update_status(run_dir: Path, **fields) -> dict:
    """Merge fields into status.json. Only one process writes a run's status at a time:
    the worker while it lives, the runner before it starts and after it has died."""
    status = read_status(run_dir)
    status.update(fields)
    write_json_atomic(Path(run_dir) / "status.json", status)
    return status


def append_event(run_dir: Path, event: dict) -> None:
    """Append one event as one line; a single O_APPEND write keeps lines whole for readers."""
    line = json.dumps(event, separators=(",", ":")) + "\n"
    # O_NONBLOCK: an events file that is a named pipe fails at once (ENXIO) instead of blocking for ever.
    fd = os.open(Path(run_dir) / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(run_dir: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Read the events appended since byte offset; a line still being written is left for next time.

    Returns:
        (events, new_offset)
    """
    path = Path(run_dir) / "events.jsonl"
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return [], offset  # a named pipe would block the page for ever
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return [], offset
    end = chunk.rfind(b"\n") + 1
    events = []
    for line in chunk[:end].splitlines():
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # a damaged line (a full disk, an editor) costs that event only
            continue
        if is_valid_event(event):  # so is a line whose fields are not what its type promises
            events.append(event)
    return events, offset + end


def request_cancel(run_dir: Path) -> None:
    (Path(run_dir) / "cancel").touch()


def cancel_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / "cancel").exists()


class EventLog:
    """Events of one run, read incrementally: each refresh reads only what was appended."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.events: list[dict] = []
        self._offset = 0

    def refresh(self) -> list[dict]:
        new, self._offset = read_events(self.run_dir, self._offset)
        self.events.extend(new)
        return new

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("type") == kind]

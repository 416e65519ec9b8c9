"""A run folder, the only channel between a training worker and the UI, as one object.

Layout of a run folder (RunFolder names each file once):
    config.json    what was asked (RunConfig)
    status.json    state, heartbeat, progress, error; rewritten atomically
    events.jsonl   append-only batch and epoch events
    checked_manifest.json  the dataset as the person checked it on the Data page (when started there)
    manifest.json  the dataset as trained on (classes, samples, split, skipped files, warnings)
    target.json    the target pictures as checked, when the run has some
    started_from.json  where its network came from, oldest first: ImageNet, a file or random, then runs
    labels.json    class names in label order
    model_best.pt  checkpoint: state_dict + config + labels (never a pickled model)
    predictions.json  the kept model's answer for every validation picture (tlcore.runs.store.predictions)
    cancel         present when someone asked the run to stop
    notes.json     what the person changed later: name, note, starred (tlcore.runs.store.notes)
    owner.json     who asked for it, and whether the teacher shared it (tlcore.runs.store.owners)
    worker.log     the worker process's own output
    export/        what `export` wrote (TorchScript, .pt2, ONNX, the web page), by default
    feature_map_<method>.npz  the pictures' features laid out on a map, kept once computed
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from tlcore import paths
from tlcore.config import RunConfig
from tlcore.data.manifest import Manifest, TargetSet
from tlcore.jsonio import NotAFile, load_json, read_json, write_json_atomic
from tlcore.records import clean_status, is_valid_event

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")


def resolve_runs_dir(runs_dir: str | Path | None = None) -> Path:
    """The runs folder (the studio's unless one is given), created on first use."""
    path = Path(runs_dir).expanduser() if runs_dir else paths.runs_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


class RunFolder:
    """One run's folder: the names of its files and every read and write of them.

    Cheap to make (it holds a path); the worker makes one and passes it to every step of the run.
    Readers are defensive: a damaged status or event line never raises (see tlcore.records).
    """

    CONFIG = "config.json"
    STATUS = "status.json"
    EVENTS = "events.jsonl"
    CHECKED_MANIFEST = "checked_manifest.json"
    MANIFEST = "manifest.json"
    TARGET = "target.json"
    STARTED_FROM = "started_from.json"
    LABELS = "labels.json"
    MODEL = "model_best.pt"
    PREDICTIONS = "predictions.json"
    RELIABILITY = "reliability.json"  # how sure the kept model's answers are, before and after scaling
    CANCEL = "cancel"
    NOTES = "notes.json"
    OWNER = "owner.json"
    WORKER_LOG = "worker.log"
    EXPORT = "export"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def run_id(self) -> str:
        return self.path.name

    # -- where each file is ----------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    config_path = property(lambda self: self.path / self.CONFIG)
    export_dir = property(lambda self: self.path / self.EXPORT)
    status_path = property(lambda self: self.path / self.STATUS)
    events_path = property(lambda self: self.path / self.EVENTS)
    checked_manifest_path = property(lambda self: self.path / self.CHECKED_MANIFEST)
    manifest_path = property(lambda self: self.path / self.MANIFEST)
    target_path = property(lambda self: self.path / self.TARGET)
    started_from_path = property(lambda self: self.path / self.STARTED_FROM)
    labels_path = property(lambda self: self.path / self.LABELS)
    model_path = property(lambda self: self.path / self.MODEL)
    predictions_path = property(lambda self: self.path / self.PREDICTIONS)
    notes_path = property(lambda self: self.path / self.NOTES)
    worker_log_path = property(lambda self: self.path / self.WORKER_LOG)

    def feature_map_path(self, method: str) -> Path:
        return self.path / f"feature_map_{method}.npz"

    def has_model(self) -> bool:
        return self.model_path.is_file()

    # -- what was asked, and on which pictures ---------------------------------------------------
    def load_config(self) -> RunConfig:
        """config.json. Raises OSError (missing, no regular file) or ValueError (damaged)."""
        return RunConfig.load(self.config_path)

    def save_config(self, config: RunConfig) -> None:
        config.save(self.config_path)

    def has_checked_manifest(self) -> bool:
        return self.checked_manifest_path.is_file()

    def load_checked_manifest(self) -> Manifest:
        return Manifest.load(self.checked_manifest_path)

    def load_manifest(self) -> Manifest:
        """The dataset as trained on; OSError or ValueError when it cannot be read."""
        return Manifest.load(self.manifest_path)

    def save_trained_dataset(self, manifest: Manifest) -> None:
        """The dataset as trained on, and its class names in label order."""
        manifest.save(self.manifest_path)
        write_json_atomic(self.labels_path, manifest.classes)

    def load_labels(self) -> list[str]:
        """The class names in label order; [] when missing or damaged."""
        classes = read_json(self.labels_path, default=[])
        return [str(name) for name in classes] if isinstance(classes, list) else []

    def read_target(self) -> TargetSet | None:
        """The run's target pictures as checked; None when it has none or the file is damaged."""
        raw = read_json(self.target_path, default=None)
        try:
            return TargetSet.from_dict(raw) if isinstance(raw, dict) else None
        except (KeyError, TypeError, ValueError):
            return None

    def save_target(self, target: TargetSet) -> None:
        write_json_atomic(self.target_path, target.to_dict())

    def read_json(self, name: str, default=None):
        """One of the folder's JSON files (a name of this class); default when missing or damaged."""
        return read_json(self.path / name, default=default)

    def write_json(self, name: str, value) -> None:
        write_json_atomic(self.path / name, value)

    # -- status ------------------------------------------------------------------------------------
    def read_status(self) -> dict:
        """The run's status, always a dict with a valid state, whatever the file on disk holds.

        A damaged or missing status file is rebuilt from the run's last "end" event when there is one
        (a run that succeeded stays succeeded when its model is there); otherwise the run reads as
        failed, with the reason. Fields of the wrong type are dropped (see tlcore.records).
        """
        try:
            raw = load_json(self.status_path)
            problem = "holds no run status"
        except (FileNotFoundError, NotADirectoryError):
            raw, problem = None, "is missing"
        except NotAFile:
            raw, problem = None, "is not a regular file"
        except (OSError, ValueError) as error:  # not JSON, not text, nested too deep, unreadable
            raw, problem = None, f"is damaged ({getattr(error, 'strerror', None) or type(error).__name__})"
        status = clean_status(raw, STATES)
        return status if status is not None else self._rebuilt_status(problem)

    def _rebuilt_status(self, problem: str) -> dict:
        """What a run's events and files still tell when its status file is gone or damaged."""
        try:
            created = self.config_path.stat().st_mtime
        except OSError:
            created = 0.0
        note = f"The run's status file {problem}"
        ends = [e for e in self.read_events()[0] if e.get("type") == "end" and e["state"] in FINAL_STATES]
        if ends:
            final = {k: v for k, v in ends[-1].items() if k not in ("type", "time")}
            if final["state"] != "succeeded" or self.has_model():
                rebuilt = clean_status({"created_at": created, **final}, STATES)
                if rebuilt is not None:
                    rebuilt["damaged"] = f"{note}; what is shown was rebuilt from its events."
                    return rebuilt
        return {"state": "failed", "created_at": created, "damaged": note,
                "error": f"{note}, and its events do not say how it ended."}

    def write_status(self, status: dict) -> None:
        write_json_atomic(self.status_path, status)

    def update_status(self, **fields) -> dict:
        """Merge fields into status.json. Only one process writes a run's status at a time:
        the worker while it lives, the runner before it starts and after it has died."""
        status = self.read_status()
        status.update(fields)
        self.write_status(status)
        return status

    # -- events ------------------------------------------------------------------------------------
    def append_event(self, event: dict) -> None:
        """Append one event as one line; a single O_APPEND write keeps lines whole for readers."""
        line = json.dumps(event, separators=(",", ":")) + "\n"
        # O_NONBLOCK: an events file that is a named pipe fails at once (ENXIO) instead of blocking for ever.
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def read_events(self, offset: int = 0) -> tuple[list[dict], int]:
        """Read the events appended since byte offset; a line still being written is left for next time.

        Returns:
            (events, new_offset)
        """
        path = self.events_path
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

    # -- cancel ------------------------------------------------------------------------------------
    def request_cancel(self) -> None:
        (self.path / self.CANCEL).touch()

    def cancel_requested(self) -> bool:
        return (self.path / self.CANCEL).exists()


class EventLog:
    """Events of one run, read incrementally: each refresh reads only what was appended."""

    def __init__(self, run_dir: str | os.PathLike):
        self.folder = RunFolder(run_dir)
        self.events: list[dict] = []
        self._offset = 0

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    def refresh(self) -> list[dict]:
        new, self._offset = self.folder.read_events(self._offset)
        self.events.extend(new)
        return new

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("type") == kind]

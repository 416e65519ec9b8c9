"""Damaged run folders: copies of a run that succeeded, each damaged one way (classes 2 and 3).

A damage is data: a name, a change to a copy of the run folder, and the states the run may read
as afterwards. Damage that could take the whole runs folder down (JSON nested too deep to parse,
an impossible pid, a FIFO) is marked ``alone`` and gets a studio home of its own.
"""
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

DEEP_JSON = "[" * 100_000 + "]" * 100_000  # valid JSON that Python's parser cannot take: RecursionError


def put(name: str, content) -> Callable[[Path], None]:
    """Replace a run file by text, bytes, a folder ("<dir>"), a FIFO ("<fifo>") or nothing (None)."""
    def change(run_dir: Path) -> None:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        if content == "<dir>":
            path.mkdir()
            (path / "inside.json").write_text("{}")
        elif content == "<fifo>":
            os.mkfifo(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
    return change


def edit_events(before=(), after=(), replace=None) -> Callable[[Path], None]:
    """Put lines before and after the run's own events (or replace them)."""
    def change(run_dir: Path) -> None:
        events = run_dir / "events.jsonl"
        own = events.read_bytes() if replace is None else replace
        lines = [(line if isinstance(line, bytes) else line.encode()) + b"\n" for line in before]
        tail = [(line if isinstance(line, bytes) else line.encode()) + b"\n" for line in after]
        events.unlink()
        events.write_bytes(b"".join(lines) + own + b"".join(tail))
    return change


def epoch_variant(run_dir: Path, **fields) -> str:
    """One of the run's epoch events with some fields changed, as a JSON line (NaN allowed)."""
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    epoch = next(e for e in map(json.loads, filter(str.strip, lines)) if e.get("type") == "epoch")
    return json.dumps({**epoch, **fields})


def chain(*changes) -> Callable[[Path], None]:
    def change(run_dir: Path) -> None:
        for each in changes:
            each(run_dir)
    return change


def run_damages(baseline: Path, live_pid: int) -> list[dict]:
    """Damaged copies of a run that succeeded: what to do to the copy and what it must read as after.

    ``expect`` is the set of states the run may read as once the runner has looked at it; None for
    entries that are not runs at all (they must not be listed). ``alone``: the damage could take
    the whole runs folder down, so it gets a studio home of its own. ``live_pid``: a process of the
    bench's that is alive and no worker.
    """
    now = time.time()
    garbage = bytes(random.Random(1).randbytes(512)) + b"\xff\xfe\x00"
    ok = {"succeeded"}
    epoch = lambda **fields: epoch_variant(baseline, **fields)  # noqa: E731 - a short local helper
    damages = [
        dict(name="status.json holds null", change=put("status.json", "null"), expect=ok),
        dict(name="status.json holds []", change=put("status.json", "[]"), expect=ok),
        dict(name="status.json holds 42", change=put("status.json", "42"), expect=ok),
        dict(name='status.json holds "x"', change=put("status.json", '"x"'), expect=ok),
        dict(name='status.json holds {"state": 5}', change=put("status.json", '{"state": 5}'), expect=ok),
        dict(name='status.json: running, pid "abc", created_at "yesterday"',
             change=put("status.json", '{"state": "running", "pid": "abc", "created_at": "yesterday"}'),
             expect={"interrupted"}),
        dict(name="status.json is binary garbage", change=put("status.json", garbage), expect=ok),
        dict(name="status.json is empty", change=put("status.json", ""), expect=ok),
        dict(name="status.json is missing", change=put("status.json", None), expect=ok),
        dict(name="status.json is a folder", change=put("status.json", "<dir>"), expect=ok),
        dict(name='status.json names an unknown state', change=put("status.json", '{"state": "bogus"}'), expect=ok),
        dict(name="status.json fields of the wrong type",
             change=put("status.json", json.dumps({"state": "succeeded", "wall_s": "long", "best_val_acc": "high",
                                                   "epochs_run": 2.5, "stage": 7, "progress": [1], "device": "cpu"})),
             expect=ok),
        dict(name="status.json: running with the pid of a live process that is no worker",
             change=put("status.json", json.dumps({"state": "running", "pid": live_pid, "started_at": now - 60,
                                                   "heartbeat_at": now - 60})), expect={"interrupted"}),
        dict(name="status.json: wall_s Infinity",
             change=put("status.json", '{"state": "succeeded", "created_at": %f, "wall_s": Infinity}' % now),
             expect=ok),
        dict(name="status.json: created_at 1e300",
             change=put("status.json", '{"state": "succeeded", "created_at": 1e300, "wall_s": 3.0}'), expect=ok),
        dict(name="status.json: best_val_acc NaN",
             change=put("status.json", '{"state": "succeeded", "created_at": %f, "best_val_acc": NaN}' % now),
             expect=ok),
        dict(name="events.jsonl: non-object lines (status missing)",
             change=chain(edit_events(before=["[1, 2]", '"x"', "42", "null", "true"]), put("status.json", None)),
             expect=ok),
        dict(name="events.jsonl: wrongly typed fields (status missing)",
             change=chain(edit_events(after=[
                 '{"type": "epoch", "epoch": "x"}',
                 epoch(epoch=7, confusion=[[1, 2], [3]]),
                 epoch(epoch=8, per_class={"precision": [0.5], "recall": [1], "f1": [1], "support": [1]}),
                 '{"type": 5}', '{"type": "end", "state": 5}', '{"type": "dataset", "classes": [1, 2]}',
                 '{"type": "batch", "epoch": 1, "step": "one"}']), put("status.json", None)),
             expect=ok),
        dict(name="events.jsonl: binary garbage only (status missing)",
             change=chain(edit_events(replace=garbage), put("status.json", None)), expect={"failed"}),
        dict(name="events say succeeded but model_best.pt is gone (status missing)",
             change=chain(put("model_best.pt", None), put("status.json", None)), expect={"failed"}),
        dict(name="events.jsonl is a folder", change=put("events.jsonl", "<dir>"), expect=ok),
        dict(name="events.jsonl: NaN and Infinity metrics",
             change=edit_events(after=[epoch(epoch=9, val_acc=float("nan"), train_loss=float("inf"),
                                             val_loss=float("-inf"))]), expect=ok),
        dict(name="events.jsonl: numbers out of range",
             change=edit_events(after=[epoch(epoch=10**30, val_loss=1e308, train_acc=1e308)]), expect=ok),
        dict(name="events.jsonl: half-written last line",
             change=edit_events(after=[b'{"type": "batch", "epoch": 1, "st']), expect=ok),
        dict(name="config.json holds null", change=put("config.json", "null"), expect=ok),
        dict(name="config.json holds a list", change=put("config.json", '["data", 5]'), expect=ok),
        dict(name="config.json fields of the wrong type",
             change=put("config.json", '{"data": 5, "epochs": "ten", "extra": "x"}'), expect=ok),
        dict(name="config.json is binary garbage", change=put("config.json", garbage), expect=ok),
        dict(name="config.json is missing", change=put("config.json", None), expect=ok),
        dict(name="config.json: image_size 100000",
             change=put("config.json", json.dumps({"data": "/nowhere", "image_size": 100_000})), expect=ok),
        dict(name="queued run whose config.json holds null",
             change=chain(put("config.json", "null"), put("status.json", '{"state": "queued", "created_at": 0}'),
                          put("model_best.pt", None), edit_events(replace=b"")), expect={"failed"}),
        dict(name="empty run folder", change=lambda run_dir: [p.unlink() for p in run_dir.iterdir()],
             expect={"failed"}),
        dict(name="a plain file in the runs folder", kind="file", expect=None),
        dict(name="a symlink loop in the runs folder", kind="loop", expect=None),
        dict(name="status.json nested 100,000 deep", change=put("status.json", DEEP_JSON), expect=ok, alone=True),
        dict(name="events.jsonl line nested 100,000 deep (status missing)",
             change=chain(edit_events(before=[DEEP_JSON]), put("status.json", None)), expect=ok, alone=True),
        dict(name="config.json nested 100,000 deep", change=put("config.json", DEEP_JSON), expect=ok, alone=True),
        dict(name="status.json: running with pid -1",
             change=put("status.json", json.dumps({"state": "running", "pid": -1, "started_at": now - 60,
                                                   "heartbeat_at": now - 60})),
             expect={"interrupted", "failed"}, alone=True),
        dict(name="status.json: running with pid 10**12",
             change=put("status.json", json.dumps({"state": "running", "pid": 10**12, "started_at": now - 60,
                                                   "heartbeat_at": now - 60})),
             expect={"interrupted", "failed"}, alone=True),
        dict(name="status.json is a named pipe", cls=3, change=put("status.json", "<fifo>"),
             expect={"succeeded", "failed"}, alone=True, fifo=True),
        dict(name="events.jsonl is a named pipe", cls=3, change=put("events.jsonl", "<fifo>"), expect=ok,
             alone=True, fifo=True),
        dict(name="config.json is a named pipe", cls=3, change=put("config.json", "<fifo>"), expect=ok,
             alone=True, fifo=True),
    ]
    for index, damage in enumerate(damages):
        damage.setdefault("cls", 2)
        damage["slug"] = f"{index:02d}-" + "".join(c if c.isalnum() else "-" for c in damage["name"].lower())[:40]
    return damages


def place_damaged_run(baseline: Path, runs_dir: Path, damage: dict) -> str:
    """A copy of the baseline run (the model hard-linked) in runs_dir, damaged; returns its folder name."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    target = runs_dir / damage["slug"]
    if damage.get("kind") == "file":
        target.write_text("not a run\n")
        return target.name
    if damage.get("kind") == "loop":
        target.symlink_to(target.name)
        return target.name
    target.mkdir()
    for path in baseline.iterdir():
        if path.is_file():
            (os.link if path.name == "model_best.pt" else shutil.copy2)(path, target / path.name)
    damage["change"](target)
    return target.name

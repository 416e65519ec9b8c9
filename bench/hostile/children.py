"""What runs in the child processes: the studio's own modules, called the way its surfaces call them.

A child reads its items from a spec file, answers one JSON line per item on stdout, and marks each
item in its stderr, so the parent can time out one item (a FIFO blocks for ever), attribute a crash
or a log to it, and go on with the rest in a new child. The studio is called only here, never in
the parent: a case that takes a child down cannot take the bench with it.
"""
import io
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from common import ROOT, print_header
from tlcore.runs import RunFolder


def child_engine(item: dict) -> dict:
    """Engine calls in this process: a scan, an upload, a weights file, a typed path."""
    os.environ["TLSTUDIO_HOME"] = item.get("home", os.environ["TLSTUDIO_HOME"])
    os.environ.update(item.get("env", {}))
    kind = item["kind"]
    if kind == "scan":
        return engine_scan(item)
    if kind == "upload":
        return engine_upload(item)
    if kind == "make_weights":
        return make_weights(Path(item["folder"]), item["marker"])
    if kind == "load_weights":
        from tlcore.models.weights import create_backbone

        try:
            create_backbone("mobilenet_v2", pretrained=False, weights_file=item["path"])
            return {"loaded": True}
        except (ValueError, OSError) as error:
            return {"error": str(error)}
    if kind == "resolve_path":
        from tlcore.data.manifest import DataError
        from ui.dataset import resolve_server_path

        try:
            return {"resolved": str(resolve_server_path(item["text"], [Path(r) for r in item["roots"]]))}
        except DataError as error:
            return {"error": str(error)}
    raise ValueError(f"unknown engine item {kind}")


def engine_scan(item: dict) -> dict:
    from tlcore import paths
    from tlcore.data.scan import scan
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.manifest import DataError

    home = Path(item["home"])
    try:
        manifest = scan(item["source"], cache=ImageCache(home / "cache"), image_size=64)
        root = Path(manifest.root)
        result = {"samples": sorted(Path(s.path).relative_to(root).as_posix() for s in manifest.samples),
                  "skipped": [[s.path, s.reason] for s in manifest.skipped], "classes": manifest.classes}
    except DataError as error:
        result = {"error": str(error), "skipped": [[s.path, s.reason] for s in error.skipped]}
    data = paths.data_dir()
    files = [p for p in data.rglob("*") if p.is_file() and not p.name.startswith(".tlstudio")]
    result["data_files"] = [str(p.relative_to(data)) for p in files][:20]
    result["data_bytes"] = sum(p.stat().st_size for p in files)
    return result


def engine_upload(item: dict) -> dict:
    from tlcore import paths
    from tlcore.data.manifest import DataError
    from tlcore.data.uploads import save_folder_upload

    from .corpus import image_bytes, picture

    files = []
    for name, size in item["files"].items():
        upload = io.BytesIO(image_bytes(picture(len(files)), "PNG") + bytes(size))
        upload.name, upload.size = name, len(upload.getvalue())
        files.append(upload)
    data = paths.data_dir()
    try:
        upload = save_folder_upload(files, root=data)
        written = [p.relative_to(upload.path).as_posix() for p in upload.path.rglob("*") if p.is_file()]
        return {"written": sorted(written), "skipped": [[s.path, s.reason] for s in upload.skipped]}
    except DataError as error:
        return {"error": str(error), "data_files": [str(p) for p in data.rglob("*") if p.is_file()]}


class RunsCode:
    """Pickled, it calls os.system when loaded: what a hostile .pth carries."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def make_weights(folder: Path, marker: str) -> dict:
    """Weights files for mobilenet_v2's body: with a NaN, with an infinity, code, a list, cut short, another net's."""
    import torch
    from tlcore.models.weights import create_backbone

    state = create_backbone("mobilenet_v2", pretrained=False).body.state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    for name, value in (("nan.pth", float("nan")), ("inf.pth", float("inf"))):
        damaged = dict(state)
        damaged[first] = state[first].clone()
        damaged[first].view(-1)[0] = value
        torch.save(damaged, folder / name)
    torch.save({"weights": RunsCode(marker)}, folder / "code.pth")
    torch.save([1, 2, 3], folder / "list.pth")
    whole = (folder / "nan.pth").read_bytes()
    (folder / "truncated.pth").write_bytes(whole[: len(whole) // 2])
    torch.save(create_backbone("resnet18", pretrained=False).body.state_dict(), folder / "resnet18.pth")
    return {"made": sorted(p.name for p in folder.iterdir())}


def child_runner(item: dict) -> dict:
    """A Runner over a runs folder that holds damaged runs: it must start, tick, and run a new run."""
    os.environ["TLSTUDIO_HOME"] = item["home"]
    from tlcore import runs
    from tlcore.config import RunConfig
    from tlcore.runs.supervision.runner import Runner, kill_worker

    runs_dir = Path(item["home"]) / "runs"
    if item.get("stall"):
        return stalled_worker(runs_dir, item)
    out = {"constructed": False}
    try:
        runner = Runner(runs_dir)
        out["constructed"] = True
    except Exception:  # noqa: BLE001 - the very thing measured: anything Runner() raises
        out["construct_error"] = traceback.format_exc()
        return out
    try:
        runner.tick()
    except Exception:  # noqa: BLE001
        out["tick_error"] = traceback.format_exc()
    new_id = runner.submit(RunConfig(data=item["new_data"], image_size=64, epochs=1, name="new beside damaged"))
    new_dir = runner.run_dir(new_id)
    deadline = time.monotonic() + item["wait_s"]
    while time.monotonic() < deadline:
        try:
            runner.tick()
        except Exception:  # noqa: BLE001
            out.setdefault("tick_error", traceback.format_exc())
        state = RunFolder(new_dir).read_status().get("state")
        if state in runs.FINAL_STATES or (item.get("until_started") and state != "queued"):
            break
        time.sleep(0.3)
    status = RunFolder(new_dir).read_status()
    out["new_state"], out["new_error"] = status.get("state"), status.get("error")
    kill_worker(status.get("pid"), new_dir)  # a new run still going is not left behind
    try:
        out["runs"] = {run.run_id: {"state": run.state, "error": run.status.get("error"), "config": bool(run.config),
                                    "damaged": run.status.get("damaged")} for run in runs.list_runs(runs_dir)}
    except Exception:  # noqa: BLE001
        out["list_error"] = traceback.format_exc()
    logs = [p.read_text(errors="replace") for p in runs_dir.glob("*/worker.log")]
    out["worker_logs"] = "\n".join(log for log in logs if "Traceback" in log)[-3000:]
    runner.stop()
    return out


def stalled_worker(runs_dir: Path, item: dict) -> dict:
    """A process that looks like this run's worker and beats, but whose work stopped long ago."""
    from tlcore import runs
    from tlcore.config import RunConfig
    from tlcore.runs.supervision.runner import Runner

    run_dir = runs.create_run(RunConfig(data=item["new_data"], image_size=64, epochs=1), runs_dir)
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "tlcore", "worker", str(run_dir)],
                            start_new_session=True)
    now = time.time()
    RunFolder(run_dir).update_status(state="running", pid=fake.pid, started_at=now - 100, heartbeat_at=now + 3600,
                       progress_at=now - 100, stage={"name": "scanning", "done": 3, "total": 10})
    runner = Runner(runs_dir)
    for _ in range(20):
        runner.tick()
        if fake.poll() is not None:
            break
        time.sleep(0.25)
    killed = fake.poll() is not None
    if not killed:
        fake.kill()
    fake.wait()
    status = RunFolder(run_dir).read_status()
    runner.stop()
    return {"fake_killed": killed, "state": status.get("state"), "error": status.get("error")}


def child_apptest(item: dict) -> dict:
    """The real app in AppTest on a studio home: the Runs page, or a path typed into the Data page."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    from ui.errors import UNEXPECTED

    os.environ["TLSTUDIO_HOME"] = item["home"]
    os.environ.pop("TLSTUDIO_PROPAGATE_ERRORS", None)  # as a person sees it: errors become sentences
    st.cache_resource.clear()
    st.cache_data.clear()
    out = {}
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=item["timeout_s"] - 5).run()
        if item["page"] == "runs":
            at.switch_page("app_pages/runs.py").run()
        else:
            at.switch_page("app_pages/data.py").run()
            at.text_input[0].set_value(item["typed"])
            next(b for b in at.button if b.label == "Use this folder").click()
            at.run()
    except RuntimeError as error:
        if "timed out" not in str(error):
            raise
        return {"timed_out": True}  # the caches are left: clearing them would wait for the hung script
    st.cache_resource.clear()  # stops this home's runner
    errors = [str(e.value) for e in at.error]
    out.update(exceptions=[f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception], errors=errors,
               unexpected=next((e for e in errors if UNEXPECTED in e), None))
    for frame in at.dataframe:
        table = frame.value
        if "status" in table.columns:
            out["statuses"] = table["status"].tolist()
        if "reason" in table.columns:
            out["skipped_table"] = table[["file", "reason"]].values.tolist()
    return out


def child_header(_: dict) -> dict:
    """The machine and versions (printed), and the limits the studio enforces (returned)."""
    from tlcore import diskspace, limits
    from tlcore.data import picture_file
    from tlcore.runs.supervision import watchdog
    from tlcore.models import weights
    from tlcore.models.backbones import list_backbones

    print_header("Reliability: bad input and faults through the studio's surfaces", "cpu",
                 {"workdir": os.environ.get("RELIABILITY_WORKDIR")})
    sys.stdout.flush()
    return {"max_image_pixels": picture_file.MAX_IMAGE_PIXELS, "formats": list(picture_file.READABLE_FORMATS),
            "max_dataset_mb": limits.max_dataset_bytes() / 2**20, "max_zip_ratio": limits.max_zip_ratio(),
            "ratio_from_mb": limits.RATIO_CHECK_FROM_BYTES / 2**20, "max_zip_entries": limits.MAX_ZIP_ENTRIES,
            "margin_mb": diskspace.MARGIN_BYTES / 2**20, "stall_limits_s": watchdog.STALL_LIMITS_S,
            "default_stall_s": watchdog.DEFAULT_STALL_LIMIT_S,
            "weights_mb": {s.name: [s.params_m, weights.max_weights_file_bytes(s) / 2**20] for s in list_backbones()}}


CHILDREN = {"engine": child_engine, "runner": child_runner, "apptest": child_apptest, "header": child_header}


def peak_rss_mb() -> float:
    """This process's own peak resident set so far (VmHWM: exec starts it afresh, unlike ru_maxrss)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def child_main(mode: str, spec: str) -> None:
    """Run items one by one, one JSON line each; os._exit at the end, so a thread stuck on a FIFO cannot hold us."""
    items = json.loads(Path(spec).read_text())
    handler = CHILDREN[mode]
    print(json.dumps({"ready": True}), flush=True)
    for item in items:
        print(f"=== item {item['name']} ===", file=sys.stderr, flush=True)
        saved_env = dict(os.environ)
        try:
            result = handler(item)
        except Exception:  # noqa: BLE001 - reported as a traceback seen, and the next item goes on
            result = {"exception": traceback.format_exc()}
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
        print(json.dumps({"name": item["name"], "peak_mb": peak_rss_mb(), **result}, default=str), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

"""Class 1: pictures that are not what they say, damaged ones, pixel bombs and awkward valid ones.

The whole corpus (with the special files of class 3 and the hidden ones of class 6) goes through
one scan in the engine, one `python -m tlcore predict`, and, later, the Data page (special_files).
A fake `gs` first on PATH records every call, and a control shows plain Pillow would make one.
"""
import json
from pathlib import Path

from imagegen import make_image_folder

from .bench import GS_MARKER_ENV, PY, TLCORE, Bench
from .checks import has_traceback, item_flags
from .corpus import USED, image_entries, picture


def class_images(bench: Bench, shared: dict) -> None:
    """Class 1 (and the special and hidden files of 3 and 6): one scan, one predict, the Data page."""
    case_dir = bench.work / "c1"
    corpus, outside = case_dir / "corpus", case_dir / "outside"
    make_image_folder(corpus, {"cats": 6, "dogs": 6}, seed=3)
    outside.mkdir(parents=True)
    picture(13).save(outside / "real.png")
    entries = []
    for entry in image_entries(outside):
        try:
            entry["write"](corpus / entry["path"])
            entries.append(entry)
        except (OSError, ValueError, KeyError) as error:  # mknod needs CAP_MKNOD; a codec may be missing
            bench.add(entry["cls"], "engine", f"scan: {entry['path']}", True, f"not generated here: {error}",
                      skipped=True)
    control = eps_control(bench, corpus / "cats" / "eps_as.png")

    with bench.watching(case_dir) as escaped:
        scan = bench.run_items("engine", [dict(name="corpus", kind="scan", source=str(corpus),
                                               home=str(case_dir / "home"), timeout_s=90)])["corpus"]
    flags = item_flags(scan)
    skipped = {path: reason for path, reason in scan.get("skipped", [])}
    used = set(scan.get("samples", []))
    for entry in entries:
        name = f"scan: {entry['path']}"
        if entry["scan"] == USED:
            ok = entry["path"] in used
            detail = "used" if ok else f"not used: {skipped.get(entry['path'], 'missing from the manifest')}"
        else:
            reason = skipped.get(entry["path"])
            ok, detail = bool(reason) and any(want in reason for want in entry["scan"]), f"skipped: {reason}"
        if entry["path"] == "cats/eps_as.png":
            ok = ok and not bench.gs_ran()
            detail += f"; fake gs ran: {bench.gs_ran()}; {control}"
        bench.add(entry["cls"], "engine", name, ok, detail, escaped=escaped, **flags)
    good_used = sum(1 for path in used if path.split("/")[-1].startswith(("cats_all", "dogs_all")))
    bench.add(1, "engine", "scan: the 12 good pictures beside the bad ones are all used", good_used == 12 and
              not scan.get("error"), f"{good_used} of 12 used; {len(used)} samples, {len(skipped)} skipped; "
              f"error: {scan.get('error') or scan.get('exception', 'none')[-300:]}", escaped=escaped, **flags)

    predicted = [e for e in entries if e["predict"] is not None]
    with bench.watching(case_dir) as escaped:
        result = bench.run([*TLCORE, "predict", shared["run"], "--top", "2",
                            *[corpus / e["path"] for e in predicted]], timeout=90)
    lines = {}
    for line in result["out"].splitlines():
        try:
            record = json.loads(line)
            lines[record["image"]] = record
        except (ValueError, KeyError, TypeError):
            pass
    tb = has_traceback(result["err"], result["out"])
    for entry in predicted:
        record = lines.get(str(corpus / entry["path"]))
        if record is None:
            ok, detail = False, "no line for this file"
        elif entry["predict"] == USED:
            ok, detail = "top" in record, f"top: {record.get('top', record.get('error'))}"
        else:
            reason = record.get("error") or ""
            ok, detail = any(want in reason for want in entry["predict"]), f"error: {reason}"
        if entry["path"] == "cats/eps_as.png":
            ok = ok and not bench.gs_ran()
            detail += f"; fake gs ran: {bench.gs_ran()}"
        bench.add(entry["cls"], "cli", f"predict: {entry['path']}", ok, f"{detail} (exit {result['rc']})", tb=tb,
                  escaped=escaped, stuck=result["stuck"], peak_mb=result["peak_mb"])
    shared["corpus"], shared["corpus_skips"] = corpus, [e for e in entries if e["scan"] != USED]


def eps_control(bench: Bench, eps: Path) -> str:
    """Whether plain Pillow, without the studio's allowlist, would run gs on this file (it should)."""
    marker = bench.scratch("gs-control")
    bench.run([PY, "-c", f"from PIL import Image\ntry:\n Image.open({str(eps)!r}).load()\nexcept Exception:\n pass"],
              timeout=30, **{GS_MARKER_ENV: marker})
    return "control: plain Pillow runs gs on it" if marker.exists() else "control: plain Pillow did not run gs"

"""Class 6: the words a person reads for bad weights, bad arguments, look-alike folders and hostile names.

Every refusal must be one sentence that names the problem, through the command line or the engine:
weights holding NaN or code, a bad --top, class folders that differ only by case, space or Unicode
form, zip slip and links, hostile upload names, a NUL byte in a typed path. What the slip entries
name is looked for outside the studio home too.
"""
import os
import unicodedata
from pathlib import Path

from imagegen import make_image_folder

from .bench import TLCORE, TRAIN, Bench
from .checks import item_flags, refusal, short, skip_reason
from .corpus import picture
from .zips import hostile_zip


def class_wording(bench: Bench, shared: dict) -> None:
    """Class 6: the messages a person reads for bad weights, bad arguments, look-alike folders, zip slip."""
    case_dir = bench.work / "c6"
    case_dir.mkdir()
    weights_files(bench, shared, case_dir)
    image = shared["good"] / "cats" / "cats_all_000.png"
    for top in ("-5", "0", "abc"):  # argparse's own error line, before anything is imported
        refusal(bench, 6, f"predict --top {top}", [*TLCORE, "predict", shared["run"], image, "--top", top],
                ("argument --top",), exit_code=2)
    alike = make_image_folder(case_dir / "alike-cli", {"Cat": 4, "cat": 4})
    refusal(bench, 6, "class folders Cat/ and cat/", [*TLCORE, "train", alike, *TRAIN],
            ("differ only by capital letters or spaces",), home=case_dir / "home-alike")
    not_zip = case_dir / "notes.zip"
    not_zip.write_bytes(b"this is not a zip at all\n" * 10)
    plain = case_dir / "dataset.txt"
    plain.write_text("a file, not a folder\n")
    good = shared["good"]
    for index, (args, name, words) in enumerate((
            ([good, "--epochs", "0"], "train --epochs 0", "Epochs must be between 1 and 1000"),
            ([good, "--backbone", "no_such_net"], "train --backbone no_such_net", "no_such_net"),
            ([good, "--lr", "nan"], "train --lr nan", "Learning rate must be a positive number"),
            ([not_zip], "train on a .zip that is not a zip", "is not a valid zip file"),
            ([plain], "train on a plain file", "neither a folder nor a .zip"))):
        # argparse keeps the last of a repeated option, so these override TRAIN's own
        refusal(bench, 6, name, [*TLCORE, "train", args[0], *TRAIN, *args[1:]], (words,),
                home=case_dir / f"home-arg{index}")
    hostile_inputs(bench, shared, case_dir)


def weights_files(bench: Bench, shared: dict, case_dir: Path) -> None:
    """NaN weights through `train --weights-file`; infinity, pickled code, a list, half a file through the engine."""
    folder = case_dir / "weights"
    folder.mkdir()
    code_marker = bench.scratch_dir / "unpickled-code-ran"
    with bench.watching(folder) as escaped:
        made = bench.run_items("engine", [dict(name="make", kind="make_weights", folder=str(folder),
                                               marker=str(code_marker), timeout_s=90)])["make"]
    if made.get("exception") or made.get("stuck") or made.get("crashed"):
        bench.add(6, "engine", "make the weights files", False, short(made.get("exception") or made.get("log"), 200),
                  escaped=escaped, **item_flags(made))
        return
    refusal(bench, 6, "--weights-file holding a NaN",
            [*TLCORE, "train", shared["good"], *TRAIN, "--weights-file", folder / "nan.pth"], ("not finite",),
            home=case_dir / "home-nan")
    unsafe = "not a plain state_dict that can be loaded safely"
    checks = [("inf.pth", "weights holding an infinity", "not finite"),
              ("code.pth", "a .pth that runs code when unpickled", unsafe),
              ("list.pth", "a .pth holding a list", "holds a list, not a state_dict"),
              ("truncated.pth", "a .pth cut in half", unsafe),
              ("resnet18.pth", "weights of another network", "do not fit")]
    items = [dict(name=file, kind="load_weights", path=str(folder / file), timeout_s=60) for file, _, _ in checks]
    with bench.watching(folder) as escaped:
        results = bench.run_items("engine", items)
    for file, name, words in checks:
        result = results[file]
        message = result.get("error") or ""
        ok = words in message and not (file == "code.pth" and code_marker.exists())
        detail = short(message or result.get("exception"), 150)
        if file == "code.pth":
            detail += f"; the pickled code ran: {code_marker.exists()}"
        bench.add(6, "engine", f"weights: {name}", ok, detail, escaped=escaped, **item_flags(result))


def hostile_inputs(bench: Bench, shared: dict, case_dir: Path) -> None:
    """Look-alike class folders, a zip with slip entries, hostile upload names, a NUL byte: through the engine."""
    token = os.urandom(4).hex()
    folders = {"' cat' and 'cat'": [" cat", "cat"], "'cat ' and 'cat'": ["cat ", "cat"],
               "'café' in NFC and NFD": [unicodedata.normalize(form, "café") for form in ("NFC", "NFD")]}
    items = []
    for index, (name, classes) in enumerate(folders.items()):
        root = case_dir / f"alike-{index}"
        for class_index, class_name in enumerate(classes):
            (root / class_name).mkdir(parents=True)
            for image_index in range(3):
                picture(20 + 10 * index + 3 * class_index + image_index).save(root / class_name / f"{image_index}.png")
        items.append(dict(name=name, kind="scan", source=str(root), home=str(case_dir / f"home-alike-{index}")))
    hostile, entries = hostile_zip(case_dir / "hostile.zip", shared["good"], token)
    items.append(dict(name="hostile", kind="scan", source=str(hostile), home=str(case_dir / "home-zip")))
    uploads = {"pets/../../evil-up.png": 2000, "/abs/evil-abs.png": 2000, "C:\\Users\\evil-win.png": 2000,
               "pets/cats/CON.png": 2000, "pets/cats/bell\x07name.png": 2000, "pets/dogs/ok.png": 2000}
    items.append(dict(name="upload", kind="upload", home=str(case_dir / "home-upload"), files=uploads))
    items.append(dict(name="nul", kind="resolve_path", text=f"{case_dir}/photos\0/cats", roots=[str(bench.work)]))
    for item in items:
        item["timeout_s"] = 60
    with bench.watching(*[Path(item["home"]) for item in items if "home" in item]) as escaped:
        results = bench.run_items("engine", items)
    escaped += slipped_files(bench, token)
    for name in folders:
        result = results[name]
        message = result.get("error") or ""
        bench.add(6, "engine", f"class folders {name}", "differ only by capital letters or spaces" in message,
                  short(message or result.get("exception") or f"classes {result.get('classes')}", 150),
                  escaped=escaped, **item_flags(result))
    zipped = results["hostile"]
    for spec in entries:
        reason = skip_reason(zipped, spec["entry"])
        bench.add(6, "engine", f"zip entry {spec['entry']!r}", bool(reason) and spec["reason"] in reason,
                  f"skipped: {reason}; dataset: {len(zipped.get('samples', []))} samples", escaped=escaped,
                  **item_flags(zipped))
    upload = results["upload"]
    inside = upload.get("written", [])
    bench.add(6, "engine", "folder upload with climbing, absolute and reserved names",
              len(inside) == len(uploads) and all(not p.startswith("..") for p in inside),
              f"written inside the upload folder: {inside}", escaped=escaped, **item_flags(upload))
    nul = results["nul"]
    bench.add(6, "engine", "Data page path with a NUL byte (resolve_server_path)",
              "NUL character" in (nul.get("error") or ""), short(nul.get("error") or nul.get("exception"), 150),
              escaped=escaped, **item_flags(nul))
    shared["hostile_zip"], shared["hostile_entries"] = hostile, entries


def slipped_files(bench: Bench, token: str) -> list[str]:
    """Files the zip and upload entries named, found anywhere but inside an extracted or uploaded folder.

    Inside the homes the watch does not look: a folder under data/ is where they may legitimately land.
    """
    found = [str(p) for p in (Path(f"/tmp/tlstudio-slip-{token}.png"), Path(f"/tmp/tlstudio-abs-{token}.png"),
                              Path("/abs/evil-abs.png")) if p.exists()]
    for path in bench.work.rglob("evil-*"):
        parts = path.parts
        if "data" not in parts or parts.index("data") > len(parts) - 3:
            found.append(str(path))
    return found

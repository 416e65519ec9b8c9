"""Class 5: input over the studio's caps, which must be refused before it costs anything.

A 3 GB sparse weights file (refused before it is read: peak memory stays near importing torch), a
zip bomb, a zip whose headers lie, 50,001 entries, the dataset cap on a zip and on an upload. The
stall watchdog, the sixth limit, runs with the runner children of run_folders.
"""
from pathlib import Path

from .bench import TLCORE, TRAIN, Bench
from .checks import item_flags, refusal, short, skip_reason
from .zips import lying_zip, many_entries_zip, noisy_zip, zip_bomb


def class_limits(bench: Bench, shared: dict) -> None:
    """Class 5: weights, zips and datasets over the studio's caps (the stall watchdog is in class_runs)."""
    case_dir = bench.work / "c5"
    case_dir.mkdir()
    for name in ("big.pth", "big.safetensors"):
        with open(case_dir / name, "wb") as file:
            file.truncate(3 * 1024**3)  # sparse: 3 GB long, no blocks on disk

    def stays_low(result):  # well under the file's 3 GB: it was never read
        peak, torch_alone = result["peak_mb"] or 0, bench.torch_mb or 0
        return peak < (torch_alone or 1200) + 512, f"peak {peak:.0f} MB, importing torch alone {torch_alone:.0f} MB"
    refusal(bench, 5, "--weights-file: 3 GB (sparse) .pth refused before it is read",
            [*TLCORE, "train", shared["good"], *TRAIN, "--weights-file", case_dir / "big.pth"],
            ("MB", "weights for this network can take up"), home=case_dir / "home-weights", also=stays_low)

    bomb = zip_bomb(case_dir / "bomb.zip")
    home = case_dir / "home-bomb"

    def nothing_extracted(_):
        left = files_under(home / "data")
        return not left, f"files under data/: {len(left)}"
    refusal(bench, 5, f"zip bomb: 1 GiB of zeros in {bomb.stat().st_size / 2**20:.1f} MB",
            [*TLCORE, "train", bomb, *TRAIN], ("times its size",), home=home, also=nothing_extracted)

    cap = {"TLSTUDIO_MAX_DATASET_MB": "1"}
    items = [dict(name="liar", kind="scan", source=str(lying_zip(case_dir / "liar.zip", shared["good"]))),
             dict(name="many", kind="scan", source=str(many_entries_zip(case_dir / "many.zip", 50_001))),
             dict(name="cap", kind="scan", env=cap, source=str(noisy_zip(shared["good"], case_dir / "cap.zip", 3, seed=3))),
             dict(name="upload", kind="upload", env=cap,
                  files={"pets/cats/a.png": 600_000, "pets/dogs/b.png": 600_000}),
             dict(name="safetensors", kind="load_weights", path=str(case_dir / "big.safetensors"))]
    for item in items:
        item.update(home=str(case_dir / f"home-{item['name']}"), timeout_s=60)
    with bench.watching(*[Path(item["home"]) for item in items]) as escaped:
        results = bench.run_items("engine", items)
    liar = results["liar"]
    written = liar.get("data_bytes")
    outcome = liar.get("error") or f"{len(liar.get('samples', []))} samples"
    bench.add(5, "engine", "zip whose headers say 1,000 bytes for 200 MB of zeros",
              written is not None and written < 2 << 20,
              f"bytes written under data/: {written}; liar entry: {skip_reason(liar, 'cats/liar.png')}; "
              f"scan: {short(outcome, 80)}", escaped=escaped, **item_flags(liar))
    for key, name, words in (
            ("many", "zip with 50,001 entries", "50,000 allowed"),
            ("cap", "3 MB zip with TLSTUDIO_MAX_DATASET_MB=1", "more than the 1.0 MB"),
            ("upload", "1.2 MB folder upload with TLSTUDIO_MAX_DATASET_MB=1", "larger than the 1 MB"),
            ("safetensors", "weights: 3 GB (sparse) .safetensors refused before it is read",
             "weights for this network can take up")):
        result = results[key]
        left = result.get("data_files")
        bench.add(5, "engine", name, words in (result.get("error") or "") and not left,
                  f"{short(result.get('error') or result.get('exception'), 150)}"
                  + (f"; files left under data/: {len(left)}" if left is not None else ""),
                  escaped=escaped, **item_flags(result))


def files_under(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file()] if folder.exists() else []

"""Issue 29: Pillow's own test pictures (its repository's Tests/images: every format, fuzzer crash files,
decompression bombs) as one folder, through the studio's scan, against what plain Pillow reads.

The corpus is not kept here: give a git mirror of python-pillow/Pillow (its Tests/images tree is copied out
of the git objects, every file into one folder, "a/b.png" as "a__b.png") or a folder of pictures. Measured:

  per file      in a child process, with a time limit and restarted after a crash: the studio's own work for
                one file (the name check of the scan, then ImageCache.ensure: hash, decode, resize, write)
                and plain Pillow's (Image.open with every plugin but EPS, which runs Ghostscript, + load of
                the first frame, pillow-heif registered as the studio does)
  checks        in every format the studio reads, each file Pillow reads is read by the studio or refused
                with a stated reason; every file not read has a reason (none lost silently); no crash or hang
  scan          tlcore.data.scan.scan_target over the folder (loose pictures, the studio's own threads) into
                a cold cache each time (median of --repeats): seconds, and that it agrees with the per-file pass

  .venv/bin/python bench/pillow_corpus.py /path/to/Pillow.git [--into FOLDER] [--size 128] [--repeats 3]
"""
import argparse
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from common import OUT, ROOT, emit, markdown_table, print_header

TREE = "Tests/images"
CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
from pathlib import Path
from PIL import Image
from pillow_heif import register_heif_opener
from tlcore.data.decoding import _unusable
from tlcore.data.imagecache import ImageCache
from tlcore.data.picture_file import ImageProblem
register_heif_opener()
Image.init()
formats = [name for name in Image.OPEN if name != "EPS"]  # EPS hands the file to Ghostscript
cache = ImageCache(sys.argv[1])
size = int(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    side, path = line.rstrip("\n").split("\t", 1)
    path, answer, opened = Path(path), None, None
    started = time.perf_counter()
    try:
        if side == "studio":
            answer = _unusable(path, path.parent, None, needs_class=False)
            if answer is None:
                cache.ensure(path, size)
        else:
            with Image.open(path, formats=formats) as image:
                opened = image.format
                image.load()
    except ImageProblem as problem:
        answer = problem.reason
    except BaseException as error:
        answer = f"{'UNCAUGHT ' * (side == 'studio')}{type(error).__name__}: {str(error)[:120]}"
    # One line per request: a second line could wait in the parent's read buffer, unseen by select().
    print(json.dumps({"answer": answer, "format": opened, "seconds": time.perf_counter() - started}), flush=True)
"""


def copy_corpus(source: Path, into: Path) -> list[str]:
    """Copy the pictures into one flat folder; returns the files the source lacks (a snapshot's missing blob)."""
    into.mkdir(parents=True, exist_ok=True)
    if (source / "objects").is_dir() or (source / ".git").exists():
        return _copy_from_git(source, into)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        shutil.copyfile(path, into / "__".join(path.relative_to(source).parts))
    return []


def _copy_from_git(git_dir: Path, into: Path) -> list[str]:
    git = ["git", f"--git-dir={git_dir}"] if (git_dir / "objects").is_dir() else ["git", "-C", str(git_dir)]
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", "HEAD", TREE], capture_output=True, check=True).stdout
    entries = []
    for record in listing.split(b"\0"):
        if record:
            meta, name = record.split(b"\t", 1)
            mode, kind, sha = meta.split()
            if kind == b"blob" and mode != b"120000":  # a link is no picture of its own
                entries.append((sha.decode(), name.decode()))
    batch = subprocess.Popen([*git, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    missing = []
    for sha, name in entries:
        batch.stdin.write(sha.encode() + b"\n")
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if header[-1] == b"missing":
            missing.append(name)
            continue
        data = batch.stdout.read(int(header[2]))
        batch.stdout.read(1)
        (into / name[len(TREE) + 1:].replace("/", "__")).write_bytes(data)
    batch.stdin.close()
    batch.wait()
    return missing


class Child:
    """The per-file worker; started again after a file crashes it or runs past the time limit."""

    def __init__(self, cache: Path, size: int):
        self.args = [sys.executable, "-c", CHILD, str(cache), str(size)]
        self.process = None

    def measure(self, side: str, path: Path, limit_s: float) -> dict:
        """{"answer": None (read) or why not, "format": Pillow's name for it once opened, "seconds": ...}."""
        if self.process is None:
            self.process = subprocess.Popen(self.args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, text=True)
            assert self.process.stdout.readline().strip() == "ready"
        self.process.stdin.write(f"{side}\t{path}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], limit_s)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            return {"answer": self._stop(ready, limit_s), "format": "(crashed or hung)", "seconds": limit_s}
        return json.loads(line)

    def _stop(self, answered: bool, limit_s: float) -> str:
        self.process.kill()
        self.process.wait()
        code, self.process = self.process.returncode, None
        return f"CRASH: no answer in {limit_s:g} s (hang)" if not answered else f"CRASH: the process died (exit {code})"

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()


def reason_kind(reason: str | None) -> str:
    """A reason in a few words, for counting."""
    for pattern, kind in ((r"megapixel limit", "pixel limit"), (r"are not read", "format named, not read"),
                          (r"not an image file", "name of no picture format"),
                          (r"not a picture in a format", "content in no format read"),
                          (r"truncated or corrupt", "damaged"), (r"^empty file", "empty"),
                          (r"colour mode", "colour mode"), (r"memory available", "memory"),
                          (r"^(CRASH|UNCAUGHT)", "crash, hang or uncaught")):
        if reason and re.search(pattern, reason):
            return kind
    return reason or "read"


def studio_formats() -> set[str]:
    from tlcore.data.picture_file import READABLE_FORMATS
    return set(READABLE_FORMATS) | {"MPO"}  # MPO comes in through Pillow's JPEG opener


def report(results: list[dict], scanned: dict[str, str | None]) -> dict:
    """Print the table per format and the checks; returns the totals."""
    rows = defaultdict(Counter)
    reasons = defaultdict(Counter)
    findings = []
    readable = studio_formats()
    for result in results:
        fmt = result.get("format") or "(Pillow cannot open)"
        pillow_ok, studio_ok = result["pillow"] is None, result["studio"] is None
        row = rows[fmt]
        row["files"] += 1
        row["pillow"] += pillow_ok
        row["studio"] += studio_ok
        if not studio_ok:
            row["refused"] += 1
            reasons[fmt][reason_kind(result["studio"])] += 1
        if result["name"] not in scanned:
            findings.append(("neither among the scan's pictures nor in its skipped list (lost)", result))
        elif (scanned[result["name"]] is None) != studio_ok:
            findings.append(("the scan and the per-file pass disagree", result))
        if reason_kind(result["studio"]) == "crash, hang or uncaught":
            findings.append(("crash, hang or uncaught error", result))
        elif studio_ok and not pillow_ok:
            findings.append(("the studio reads it, plain Pillow does not", result))
        elif fmt in readable and pillow_ok and not studio_ok and reason_kind(result["studio"]) not in (
                "pixel limit", "name of no picture format", "format named, not read"):
            findings.append(("Pillow reads it, the studio does not", result))
    table = [[fmt, row["files"], row["pillow"], row["studio"], row["refused"],
              "; ".join(f"{kind} {count}" for kind, count in reasons[fmt].most_common())]
             for fmt, row in sorted(rows.items(), key=lambda item: (item[0] not in readable, -item[1]["files"]))]
    totals = {key: sum(row[key] for row in rows.values()) for key in ("files", "pillow", "studio", "refused")}
    table.append(["**all**", totals["files"], totals["pillow"], totals["studio"], totals["refused"], ""])
    print("\nFormats the studio reads first, then the rest (format as Pillow names it):\n")
    print(markdown_table(["format", "files", "Pillow reads", "studio reads", "studio refuses, with reason",
                          "reasons"], table))
    all_reasons = Counter(reason_kind(r["studio"]) for r in results if r["studio"] is not None)
    print("\nReasons, all files: " + "; ".join(f"{kind} {count}" for kind, count in all_reasons.most_common()))
    stated = [r for r in results if (r["format"] in readable and r["pillow"] is None and r["studio"] is not None)]
    print(f"\nIn formats the studio reads, files Pillow reads that the studio refuses ({len(stated)}), and why:")
    for result in stated:
        print(f"- {result['name']} ({result['format']}): {result['studio']}")
    print(f"\nFindings ({len(findings)}):")
    for what, result in findings:
        print(f"- {what}: {result['name']} ({result.get('format')}): studio: {result['studio']}; "
              f"Pillow: {result['pillow'] or 'read'}")
    emit(item="totals", **totals, reasons=dict(all_reasons), findings=len(findings))
    return totals | {"findings": len(findings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a git mirror of python-pillow/Pillow, or a folder of pictures")
    parser.add_argument("--into", type=Path, help="the folder to copy the corpus into (default: a temporary one)")
    parser.add_argument("--size", type=int, default=128, help="the picture size the scan stores")
    parser.add_argument("--repeats", type=int, default=3, help="scans of the folder to time, each into a cold cache")
    parser.add_argument("--limit-s", type=float, default=30.0,
                        help="seconds one file may take before it counts as a hang")
    args = parser.parse_args()
    print_header("Pillow's test pictures through the studio's scan", settings=vars(args) | {
        "source": str(args.source), "into": str(args.into)})
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.into or Path(scratch) / "corpus"
        started = time.perf_counter()
        missing = copy_corpus(args.source, folder)
        names = sorted(p.name for p in folder.iterdir())
        emit(item="corpus", files=len(names), missing_from_source=missing,
             copy_s=round(time.perf_counter() - started, 2))
        child, results = Child(Path(scratch) / "per_file_cache", args.size), []
        started = time.perf_counter()
        for name in names:
            studio = child.measure("studio", folder / name, args.limit_s)
            pillow = child.measure("pillow", folder / name, args.limit_s)
            results.append({"name": name, "format": pillow.get("format"), "studio": studio["answer"],
                            "studio_s": studio["seconds"], "pillow": pillow["answer"]})
        child.close()
        per_file_s = time.perf_counter() - started
        scans = [timed_scan(folder, Path(scratch) / f"scan_cache_{repeat}", args.size)
                 for repeat in range(args.repeats)]
        scan_s, scanned = statistics.median(seconds for seconds, _ in scans), scans[0][1]
        assert all(outcome == scanned for _, outcome in scans), "two scans of the same folder differ"
    OUT.mkdir(exist_ok=True)
    (OUT / "pillow_corpus_files.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    slowest = sorted(results, key=lambda r: -r["studio_s"])[:5]
    emit(item="time", scan_s=round(scan_s, 2), scans_s=[round(seconds, 2) for seconds, _ in scans],
         per_file_pass_s=round(per_file_s, 2),
         studio_s_sum=round(sum(r["studio_s"] for r in results), 2),
         slowest=[(r["name"], round(r["studio_s"], 3)) for r in slowest])
    totals = report(results, scanned)
    print(f"\n{totals['files']} files; the studio's scan of the folder (cold cache, its own threads): {scan_s:.1f} s "
          f"(median of {len(scans)}). "
          f"Slowest files in the studio's path: " + ", ".join(f"{r['name']} {r['studio_s']:.2f} s" for r in slowest))
    if totals["findings"]:
        raise SystemExit(f"{totals['findings']} finding(s): see the list above")


def timed_scan(folder: Path, cache_dir: Path, size: int) -> tuple[float, dict[str, str | None]]:
    """scan_target over the folder: seconds, and per file name None (read) or the reason it was skipped."""
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan_target

    quiet = os.open(os.devnull, os.O_WRONLY)
    saved_stderr = os.dup(2)
    os.dup2(quiet, 2)  # libtiff writes its complaints about damaged files straight to the terminal
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # and Pillow warns about them: the reasons are in the result
            started = time.perf_counter()
            target = scan_target(folder, classes=[], cache=ImageCache(cache_dir), image_size=size)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(quiet)
    seconds = time.perf_counter() - started
    outcome = {Path(sample.path).name: None for sample in target.samples}
    outcome.update({Path(skipped.path).name: skipped.reason for skipped in target.skipped})
    return seconds, outcome


if __name__ == "__main__":
    main()

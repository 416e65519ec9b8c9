#!/usr/bin/env python3
"""Reliability: a generated corpus of bad input and faults, run through the studio's real surfaces.

usage: .venv/bin/python bench/reliability.py [--workdir /tmp] [--keep] [--only 1,2,...]

Everything is generated in a temporary folder and removed afterwards (--keep leaves it). The cases
fall into six classes:
  1. images: files that are not what their name says (EPS, PSD, ICO, ... named .png), damaged or
     truncated ones, pixel bombs, and awkward but valid ones (16-bit, CMYK, palette transparency,
     animation, huge EXIF), through tlcore.data.scan, `python -m tlcore predict` and the Data page.
     A fake `gs` first on PATH records every call: Pillow's EPS plugin would run Ghostscript.
  2. damaged run folders: status.json, events.jsonl and config.json holding the wrong thing, through
     tlcore.runner.Runner (a new run queued beside them must still start and finish) and the Runs
     page (AppTest, one studio home per damaged run so a failure is attributed to its run).
  3. special files: a named pipe, a device and a socket named like pictures or run files. Every
     subprocess has a timeout, so a hang counts as a stuck case instead of hanging the bench.
  4. full disks: a small tmpfs as the studio home; refused before the work, out of inodes while
     scanning, and filled by another process while the run trains.
  5. limits: a 3 GB (sparse) weights file, a zip bomb, a zip whose headers lie, too many entries,
     the dataset cap, the stall watchdog.
  6. wording: NaN weights, a bad --top, look-alike class folders, hidden folders, zip slip, hostile
     upload names, a NUL byte in a typed path.

Per case: class, surface (cli, runner, apptest, engine), passed, whether a traceback was seen,
whether a file was written outside the case's folder (files escaped), whether it got stuck (timed
out), and the peak RSS of the process that ran it (/usr/bin/time for commands; the child's own
VmHWM so far for engine, runner and AppTest cases, which share child processes). A case passes when
it behaved as expected with no traceback, no escaped file and no hang. One JSON line per case, then
a table and the totals by class and by surface. Exit code 0 when every case passed, 1 otherwise.

Runs as root for the tmpfs mounts of class 4 (skipped with a note otherwise) and the device file of
class 3. About 2.5 minutes on 2 CPU cores. The code is in the package bench/hostile/ (one job per
module); the child processes re-invoke this script with --child.
"""
import argparse
import sys
import tempfile

import common  # noqa: F401 - puts the checkout on sys.path before the package imports tlcore


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--keep", action="store_true", help="leave the generated corpus and runs on disk")
    parser.add_argument("--only", default="", help="comma-separated classes to run (default: all)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # only the child's own module: its peak memory is the studio's, not the bench's
        from hostile.children import child_main

        return child_main(*args.child)
    from hostile.run import PHASES, run_bench

    only = {int(c) for c in args.only.split(",") if c.strip()} or set(PHASES)
    sys.exit(0 if run_bench(args.workdir, only, args.keep) else 1)


if __name__ == "__main__":
    main()

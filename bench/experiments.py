#!/usr/bin/env python3
"""Issue 15: what an experiment costs, and each lesson's wall time.

usage: .venv/bin/python bench/experiments.py [--repeats 3] [--lessons all|none|ID,ID] [--device auto]

Shared work: on Fashion-MNIST 5-9 (40 training and 100 validation pictures per class, 128 px,
MobileNetV2), the whole-process wall time of `python -m tlcore experiment --strategies
feature_extraction --per-class 5,10,20,40 --seeds 3` (12 runs) against one `python -m tlcore train
--strategy feature_extraction` on all 40 per class, each in a fresh studio home (nothing cached),
--repeats times, medians and their ratio (the issue's goal: at most 1.5).

Lessons: each built-in lesson as the app runs it, through a real Runner (a worker process per run)
in a fresh studio home, from the click to the last run's end; its runs' states and the verdict.
Writes bench/out/experiments.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit, ensure_fmnist, markdown_table, print_header, publish

ROOT = Path(__file__).resolve().parents[1]


def timed_cli(args: list, home: Path) -> tuple[float, str]:
    env = dict(os.environ, TLSTUDIO_HOME=str(home))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tlcore", *map(str, args), *([] if args[0] == "experiment" else
                                                                                ["--quiet"])],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - started, done.stdout


def shared_work(repeats: int, device: str) -> dict:
    data = ensure_fmnist(40, 100, seed=0)
    single, grid = [], []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory(prefix="tlstudio-bench-exp-") as home:
            seconds, _ = timed_cli(["train", data, "--strategy", "feature_extraction", "--device", device], Path(home))
            single.append(seconds)
        with tempfile.TemporaryDirectory(prefix="tlstudio-bench-exp-") as home:
            seconds, out = timed_cli(["experiment", data, "--strategies", "feature_extraction", "--per-class",
                                      "5,10,20,40", "--seeds", "3", "--device", device], Path(home))
            states = [json.loads(line).get("state") for line in out.splitlines()[1:]]
            assert states.count("succeeded") == 12, states
            grid.append(seconds)
        emit(item="shared work", repeat=repeat, single_run_s=round(single[-1], 2), experiment_s=round(grid[-1], 2))
    ratio = statistics.median(grid) / statistics.median(single)
    return dict(single=statistics.median(single), grid=statistics.median(grid), ratio=ratio)


def lesson_time(lesson_id: str) -> dict:
    """One lesson through a real runner in a fresh home, from the click to its last run's end."""
    code = f"""
import json, time
from tlcore.runs.experiments.queue import advance_experiments
from tlcore.runs.experiments.grid import is_finished, load_experiment, results
from tlcore.people.person import LOCAL
from tlcore.runs.experiments.lessons import get_lesson
from tlcore.report.experiment_report import verdict
from tlcore.runs.experiments.grid import training_pictures
from tlcore.runs.supervision.runner import Runner
runner = Runner(between_ticks=lambda r: advance_experiments(r.submit, r.runs_dir)).start()
started = time.perf_counter()
experiment = get_lesson({lesson_id!r}).build(runner.submit, LOCAL)
while not is_finished(load_experiment(experiment.folder)):
    time.sleep(1)
seconds = time.perf_counter() - started
runner.stop()
experiment = load_experiment(experiment.folder)
rows = results(experiment)
print(json.dumps(dict(seconds=seconds, states=[r["state"] for r in rows],
                      verdict=verdict(rows, training_pictures(experiment)))))
"""
    with tempfile.TemporaryDirectory(prefix="tlstudio-bench-lesson-") as home:
        env = dict(os.environ, TLSTUDIO_HOME=home)
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lessons", default="all")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print_header("Issue 15: experiments and lessons", args.device, vars(args))
    sys.path.insert(0, str(ROOT))
    from tlcore.runs.experiments.lessons import LESSONS

    text = []
    if args.repeats:
        shared = shared_work(args.repeats, args.device)
        text.append(markdown_table(
            ["what (Fashion-MNIST 5-9, 128 px, MobileNetV2, fresh home)", "wall time, median"],
            [["one feature-extraction run, 40 per class", f"{shared['single']:.1f} s"],
             ["experiment: feature extraction x 5, 10, 20, 40 per class x 3 seeds (12 runs)", f"{shared['grid']:.1f} s"],
             ["ratio (goal: at most 1.5)", f"{shared['ratio']:.2f}"]]))
    chosen = [l for l in LESSONS if args.lessons == "all" or l.lesson_id in args.lessons.split(",")]
    rows = []
    for lesson in chosen:
        measured = lesson_time(lesson.lesson_id)
        emit(item="lesson", lesson=lesson.lesson_id, seconds=round(measured["seconds"], 1),
             states=measured["states"], verdict=measured["verdict"])
        done = measured["states"].count("succeeded")
        rows.append([lesson.title, f"{measured['seconds'] / 60:.1f} min", f"{done} of {len(measured['states'])}",
                     " ".join(measured["verdict"][:2])])
    if rows:
        text.append(markdown_table(["lesson", "wall time (click to last run)", "runs finished", "verdict (start)"],
                                   rows))
    publish("experiments", "\n\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())

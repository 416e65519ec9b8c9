"""The experiment command: a grid of ordinary runs on one dataset, one JSON line per run, and a report."""
import json
import os
import sys
from pathlib import Path

from tlcore.cli.options import UserError, add_run_options, positive_int, run_options
from tlcore.cli.train import existing_path
from tlcore.config import RunConfig


def add_experiment_parser(sub) -> None:
    """The experiment command: a grid of runs, with the options every run takes."""
    from tlcore.training.strategies import list_strategies

    strategies = list_strategies()
    experiment = sub.add_parser(
        "experiment", help="train a grid of runs (strategies x networks x pictures per class x seeds) on one "
                           "dataset, print one JSON line per run and write a report",
        description="Every run is an ordinary run (in the runs folder, openable in the app), all measured on one "
                    "validation set drawn once. Feature extraction shares one feature pass per network.")
    experiment.add_argument("data", help="folder with one sub-folder per class, or with train/ and val/, or a .zip")
    experiment.add_argument("--strategies", default="feature_extraction,fine_tune,scratch",
                            help="comma-separated: " + ", ".join(s.name for s in strategies))
    experiment.add_argument("--backbone", "--backbones", dest="backbones", default=RunConfig.backbone,
                            help="comma-separated networks (mobilenet_v2,efficientnet_lite0)")
    experiment.add_argument("--per-class", default="5,10,20,all",
                            help="training pictures per class, comma-separated; 'all' for every picture")
    experiment.add_argument("--seeds", type=positive_int, default=3, help="repeats of each run, 1 to 5")
    experiment.add_argument("--name", default="")
    experiment.add_argument("--report", default=None, metavar="OUT.html",
                            help="write the report there (self-contained HTML) and its figures as PNG beside it")
    experiment.add_argument("--runs-dir", default=None)
    add_run_options(experiment, strategies)


def parse_sizes(text: str) -> list[int]:
    """'5,10,all' -> [5, 10, 0] (0: every picture); UserError for anything else."""
    sizes = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.lower() == "all":
            sizes.append(0)
        elif part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        else:
            raise UserError(f"--per-class takes whole numbers of at least 1 and 'all', not '{part}'.")
    return sizes


def command_experiment(args) -> int:
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore import paths
    from tlcore.report.experiment_report import size_words, write_report
    from tlcore.runs.experiments.queue import run_here
    from tlcore.runs.experiments.grid import grid_arms, new_experiment, results, training_pictures
    from tlcore.runs.execution.worker import execute_run

    data = existing_path(args.data, "")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    base = run_options(args)
    if args.epochs is not None:
        base["epochs"] = args.epochs
    image_size = base.get("image_size", RunConfig.image_size)
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=image_size, val_fraction=args.val_fraction)
    if args.report and not os.access(Path(args.report).expanduser().resolve().parent, os.W_OK):
        raise UserError(f"The report cannot be written to {args.report}: its folder does not exist or may not be "
                        "written.")
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    experiment = new_experiment(manifest, arms=grid_arms(strategies, backbones),
                                sizes=parse_sizes(args.per_class), seeds=args.seeds, base=base, name=args.name,
                                dataset_label=data.name, driver="cli")
    for note in experiment.notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps({"experiment_id": experiment.experiment_id, "folder": str(experiment.folder),
                      "runs": len(experiment.cells)}), flush=True)

    def on_run(cell, status):
        print(json.dumps({"arm": cell.arm, "strategy": cell.strategy, "backbone": cell.backbone,
                          "per_class": cell.per_class or "all",
                          "seed": cell.seed, "run_id": cell.run_id, "state": status.get("state"),
                          "best_val_acc": status.get("best_val_acc"), "wall_s": status.get("wall_s"),
                          "error": status.get("error")}), flush=True)

    run_here(experiment, execute_run, args.runs_dir, on_run=on_run)
    rows = results(experiment, args.runs_dir)
    if args.report:
        facts = [f"dataset {data.name}", f"{args.seeds} seed{'s' * (args.seeds > 1)}", f"{image_size} px",
                 "sizes: " + ", ".join(size_words(s) for s in experiment.sizes)]
        written = write_report(args.report, title=args.name or f"Experiment on {data.name}", facts=facts, rows=rows,
                               pictures=training_pictures(experiment), notes=experiment.notes)
        if written["png_problem"]:
            print(f"note: {written['png_problem']}", file=sys.stderr)
        print(json.dumps({"report": written["html"], "figures": written["png"]}), flush=True)
    return 0 if all(row["state"] == "succeeded" for row in rows) else 1

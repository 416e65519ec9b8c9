"""train and experiment: runs made from the command line's options and trained in this process."""
import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from tlcore.cli.options import UserError, add_run_options, positive_int, run_options
from tlcore.config import RunConfig


def add_train_parser(sub) -> None:
    """The train command, its choices and help read from the strategy and head registries."""
    from tlcore.training.strategies import list_strategies

    strategies = list_strategies()
    def entry(name: str, text: str) -> str:
        return textwrap.fill(text, width=100, initial_indent=f"  {name:<20} ", subsequent_indent=" " * 23)

    lines = [entry(s.name, f"{s.plain}. {s.summary} When: {s.when}") for s in strategies]
    settings = [entry(setting.flag, f"{s.name}: {setting.help} From {setting.low:g} to {setting.high:g}, "
                                    f"default {setting.default:g}.") for s in strategies for setting in s.settings]
    epilog = "strategies:\n" + "\n".join(lines) + ("\n\nstrategy settings:\n" + "\n".join(settings) if settings else "")
    train = sub.add_parser("train", help="train on an image folder or zip and print one JSON line of results",
                           epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("data", help="folder with one sub-folder per class, or with train/ and val/, or a .zip")
    train.add_argument("--backbone", default=None,
                       help="default: mobilenet_v2, or the network of --init-from's run; several joined with + "
                            "(mobilenet_v2+efficientnet_lite0) combine their features side by side (feature_extraction)")
    train.add_argument("--strategy", default="feature_extraction", choices=[s.name for s in strategies])
    add_run_options(train, strategies, image_size_help="default: 128, or --init-from's run's")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--weights-file", default=None, help="your own weights for the backbone (.pth or .safetensors)")
    train.add_argument("--init-from", action="append", default=None, metavar="RUN_ID_OR_DIR",
                       help="start from a finished run's network (its body, weights and image size) with a new "
                            "head for this data, instead of the ImageNet weights; given more than once, or with "
                            "--backbone, the networks' features are combined side by side (feature_extraction)")
    train.add_argument("--auto", type=float, default=None, metavar="MINUTES",
                       help="best model in MINUTES: the studio chooses network, strategy and settings, training the "
                            "candidates that fit in the time (feature extraction on each network whose weights are "
                            "here, then fine-tuning) and keeping the best by validation accuracy; prints what it "
                            "chose and why. --strategy, --backbone and --head are then the studio's to choose")
    train.add_argument("--runs-dir", default=None)
    train.add_argument("--nproc-per-node", type=positive_int, default=None, metavar="N",
                       help="train with N processes on this machine, data-parallel (torch.distributed): one per "
                            "GPU, or CPU processes sharing the cores; --batch-size stays the global batch. "
                            "Strategies that adjust the network (fine_tune, l2_sp, scratch). The command also "
                            "runs under torchrun itself, on one machine or several: torchrun --nnodes M "
                            "--node-rank I --rdzv-endpoint HOST:PORT --nproc-per-node N -m tlcore train ...")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--target", default=None, metavar="PATH",
                       help="pictures from where the model will be used (folder or zip, labelled or not): "
                            "domain_adaptation trains on them without labels; with labels, every strategy "
                            "reports its accuracy there (best_target_acc, final_target_acc)")
    train.add_argument("--joint-with", default=None, metavar="PATH",
                       help="a second labelled dataset (folder or zip) trained at the same time, with a head of its "
                            "own on the shared network (joint, multi-task training); strategies that adjust the "
                            "network")
    train.add_argument("--meta-source", default=None, metavar="PATH[,PATH...]",
                       help="meta_learning: labelled datasets (folders or zips, comma-separated) to draw its small "
                            "practice tasks from; their classes need not be this data's")
    for strategy in strategies:
        for setting in strategy.settings:
            train.add_argument(setting.flag, type=int if setting.integer else float, default=None,
                               dest=setting_dest(strategy.name, setting.key),
                               help=argparse.SUPPRESS)  # listed in the epilog, with its strategy


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
    experiment.add_argument("--backbone", "--backbones", dest="backbones", default="mobilenet_v2",
                            help="comma-separated networks (mobilenet_v2,efficientnet_lite0)")
    experiment.add_argument("--per-class", default="5,10,20,all",
                            help="training pictures per class, comma-separated; 'all' for every picture")
    experiment.add_argument("--seeds", type=positive_int, default=3, help="repeats of each run, 1 to 5")
    experiment.add_argument("--name", default="")
    experiment.add_argument("--report", default=None, metavar="OUT.html",
                            help="write the report there (self-contained HTML) and its figures as PNG beside it")
    experiment.add_argument("--runs-dir", default=None)
    add_run_options(experiment, strategies)


def setting_dest(strategy: str, key: str) -> str:
    return f"setting__{strategy}__{key}"


def strategy_options(args) -> dict:
    """The chosen strategy's settings given on the command line; UserError for another strategy's."""
    from tlcore.training.strategies import list_strategies

    options = {}
    for strategy in list_strategies():
        for setting in strategy.settings:
            value = getattr(args, setting_dest(strategy.name, setting.key))
            if value is None:
                continue
            if strategy.name != args.strategy:
                raise UserError(f"{setting.flag} is a setting of --strategy {strategy.name}, not of {args.strategy}.")
            options[setting.key] = value
    return options


def members_of(named: list[str], sources: list) -> tuple[list[str], list[str]]:
    """The networks of a run and, per network, the run whose body it takes ("" for ImageNet's weights).

    --backbone names networks ("a+b"), --init-from names runs. The runs take the last networks named
    when those are theirs (`--backbone mobilenet_v2 --init-from RUN` starts from RUN;
    `--backbone mobilenet_v2+mobilenet_v2 --init-from RUN` combines ImageNet's MobileNetV2 with RUN's);
    otherwise their networks join the ones named. With nothing named, the default network.
    """
    theirs = [source.config.backbone for source in sources]
    if sources and len(named) >= len(sources) and named[len(named) - len(sources):] == theirs:
        networks = named
    else:
        networks = [*named, *theirs] or [RunConfig.backbone]
    runs = [""] * (len(networks) - len(sources)) + [str(source.run_dir) for source in sources]
    return networks, (runs if sources else [])


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


def command_train(args) -> int:
    import time

    from tlcore import runs
    from tlcore.runs.cli_progress import ProgressBar
    from tlcore.runs.worker import execute_run
    from tlcore.training.distributed import world_from_env

    from tlcore.models.backbones import member_names
    from tlcore.runs.sources import check_source, resolve_source
    from tlcore.training.strategies import get_strategy

    data = Path(args.data).expanduser()
    if not data.exists():
        raise UserError(f"No such file or folder: {data}")
    world = world_from_env()
    if args.nproc_per_node and world.active:
        raise UserError("This command already runs under torchrun: give the processes to torchrun "
                        "(--nproc-per-node there), not to train as well.")
    if args.auto is not None and (args.nproc_per_node or world.active):
        raise UserError("--auto trains its candidates one process each; leave out --nproc-per-node and torchrun.")
    if args.auto is not None:
        return command_auto(args, data)
    target = Path(args.target).expanduser() if args.target else None
    if target is not None and not target.exists():
        raise UserError(f"No such file or folder for --target: {target}")
    joint_with = Path(args.joint_with).expanduser() if args.joint_with else None
    if joint_with is not None and not joint_with.exists():
        raise UserError(f"No such file or folder for --joint-with: {joint_with}")
    meta_sources = [Path(p).expanduser() for p in (args.meta_source or "").split(",") if p.strip()]
    for path in meta_sources:
        if not path.exists():
            raise UserError(f"No such file or folder for --meta-source: {path}")
    epochs = args.epochs if args.epochs is not None else get_strategy(args.strategy).default_epochs
    sources = [check_source(resolve_source(reference, args.runs_dir)) for reference in args.init_from or []]
    networks, member_runs = members_of(member_names(args.backbone) if args.backbone else [], sources)
    if len(networks) > 1 and sources and args.backbone and len(networks) > len(member_names(args.backbone)):
        print(f"note: --init-from's network joins --backbone's: the features of {', '.join(networks)} are combined "
              "side by side (feature extraction).", file=sys.stderr)
    source = sources[0] if sources and len(networks) == 1 else None
    backbone = "+".join(networks)
    if source is not None:
        member_runs = []  # one network: the run it starts from is init_from
    image_size = args.image_size or (sources[0].config.image_size if sources else RunConfig.image_size)
    config = RunConfig(**{**run_options(args), "image_size": image_size},
                       data=str(data.resolve()), backbone=backbone, strategy=args.strategy,
                       epochs=epochs, target=str(target.resolve()) if target else None,
                       options=strategy_options(args), seed=args.seed, weights_file=args.weights_file,
                       init_from=str(source.run_dir) if source else None,
                       member_runs=member_runs,
                       meta_sources=[str(p.resolve()) for p in meta_sources],
                       joint_with=str(joint_with.resolve()) if joint_with else None,
                       processes=args.nproc_per_node or world.size)
    started = time.perf_counter()
    if config.processes > 1 and not world.active:  # this process launches the others and waits
        from tlcore.runs.launch import check_devices, train_with_processes

        check_devices(config)
        run_dir = runs.create_run(config, args.runs_dir)
        if not args.quiet:
            print(f"training {run_dir.name} with {config.processes} processes...", file=sys.stderr)
        status = train_with_processes(run_dir, config.processes)
    else:
        run_dir = shared_run(world, config, args.runs_dir)
        callbacks = [ProgressBar()] if not args.quiet and world.writes else []
        status = execute_run(run_dir, callbacks=callbacks, world=world)
        if not world.writes:  # rank 0 reports for the run
            return 0 if status["state"] == "succeeded" else 1
    result = {"run_id": run_dir.name, "run_dir": str(run_dir), "status": status["state"],
              "best_val_acc": status.get("best_val_acc"), "final_val_acc": status.get("final_val_acc"),
              "epochs": status.get("epochs_run"), "wall_s": round(time.perf_counter() - started, 2),
              "train_images_per_s": status.get("train_images_per_s"), "best_phase": status.get("best_phase")}
    for figure in ("body_distance", "final_body_distance", "best_target_acc", "final_target_acc",
                   "meta_episodes", "meta_first_acc", "meta_last_acc"):
        if figure in status:
            result[figure] = status[figure]
    say_what_the_target_lacks(run_dir)
    if status.get("error"):
        result["error"] = status["error"]
        print(f"error: {status['error']}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return 0 if status["state"] == "succeeded" else 1


def command_auto(args, data: Path) -> int:
    """train --auto MINUTES: the candidates that fit, trained one after another here, and the choice."""
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.models.weights import weights_status
    from tlcore.report import auto_choice
    from tlcore.report.estimate import recall_or_measure
    from tlcore.runs.experiment_queue import run_here
    from tlcore.runs.worker import execute_run

    if args.strategy != "feature_extraction" or args.backbone or args.init_from or args.target or args.joint_with \
            or args.meta_source or args.head != "linear" or args.seed != 0:
        raise UserError("--auto chooses the network, the strategy and the last layer itself, and trains each "
                        "candidate once (seed 0); leave out --strategy, --backbone, --head, --seed, --init-from, "
                        "--target, --joint-with and --meta-source.")
    base = {k: v for k, v in run_options(args).items() if k != "head"}
    image_size = base.get("image_size", RunConfig.image_size)
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=image_size, val_fraction=args.val_fraction)
    try:
        plan = auto_choice.plan(
            manifest, args.auto, available=lambda name: weights_status(name).available,
            throughput=lambda name, train: recall_or_measure(name, image_size, base.get("device", "auto"), train=train))
    except ValueError as error:
        raise UserError(str(error)) from None
    experiment = auto_choice.start(manifest, plan, args.auto, base=base, dataset_label=data.name, driver="cli")
    print(json.dumps({"experiment_id": experiment.experiment_id, "candidates": plan.seconds,
                      "left_out": plan.left_out}), flush=True)
    run_here(experiment, execute_run, args.runs_dir)
    chosen = auto_choice.choice(experiment, args.runs_dir)
    if chosen is None:
        print("error: no candidate finished; the Runs page or each run's status.json says why.", file=sys.stderr)
        return 1
    print(json.dumps({"auto": chosen["arm"], "run_id": chosen["run_id"], "best_val_acc": chosen["best_val_acc"],
                      "why": chosen["why"]}), flush=True)
    return 0


def shared_run(world, config: RunConfig, runs_dir) -> Path:
    """The run folder this process trains: made here, or under torchrun made by rank 0 and told to all
    (on storage every machine sees), after the process group has started."""
    from tlcore import runs
    from tlcore.runs.worker import process_device
    from tlcore.training import distributed

    if not world.active:
        return runs.create_run(config, runs_dir, claimed_by=os.getpid())  # this process trains it
    distributed.join(world, process_device(config, world))
    return world.first_decides(lambda: runs.create_run(config, runs_dir, claimed_by=os.getpid()))


def say_what_the_target_lacks(run_dir: Path) -> None:
    """On stderr: target folders that name no training class, and a target without any labels."""
    from tlcore.runs.store import read_target

    target = read_target(run_dir)
    if target is None:
        return
    if target.unknown_classes:
        print(f"note: the target's folders {', '.join(map(str, target.unknown_classes))} name no training class; "
              "their pictures count as unlabelled (used for alignment, not for target accuracy).", file=sys.stderr)
    if not target.labelled:
        print("note: no target picture is in a folder named like a training class, so no target accuracy "
              "can be measured.", file=sys.stderr)


def command_experiment(args) -> int:
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore import paths
    from tlcore.report.experiment_report import size_words, write_report
    from tlcore.runs.experiment_queue import run_here
    from tlcore.runs.experiments import grid_arms, new_experiment, results, training_pictures
    from tlcore.runs.worker import execute_run

    data = Path(args.data).expanduser()
    if not data.exists():
        raise UserError(f"No such file or folder: {data}")
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

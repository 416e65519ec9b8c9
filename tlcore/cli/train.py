"""train: a run made from the command line's options and trained in this process (or its processes)."""
import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from tlcore.cli.options import UserError, add_run_options, positive_int, run_options
from tlcore.cli.people import add_person_options, person_from_args
from tlcore.config import RunConfig
from tlcore.errors import InputError


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
                       help=f"default: {RunConfig.backbone}, or the network of --init-from's run; several joined with + "
                            "(mobilenet_v2+efficientnet_lite0) combine their features side by side (feature_extraction)")
    train.add_argument("--strategy", default=RunConfig.strategy, choices=[s.name for s in strategies])
    add_run_options(train, strategies, image_size_help=f"default: {RunConfig.image_size}, or --init-from's run's")
    train.add_argument("--seed", type=int, default=RunConfig.seed)
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
    add_person_options(train, "--owner", "the class member the run is made for (class mode): a student's name or "
                                         "teacher; the run is theirs to see, rename, cancel and delete")
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


def command_train(args) -> int:
    import time

    from tlcore import runs
    from tlcore.runs.execution.cli_progress import ProgressBar
    from tlcore.runs.execution.worker import execute_run
    from tlcore.training.distributed import world_from_env

    data = existing_path(args.data, "")
    world = world_from_env()
    if args.nproc_per_node and world.active:
        raise UserError("This command already runs under torchrun: give the processes to torchrun "
                        "(--nproc-per-node there), not to train as well.")
    if args.auto is not None and (args.nproc_per_node or world.active):
        raise UserError("--auto trains its candidates one process each; leave out --nproc-per-node and torchrun.")
    if args.auto is not None and args.person is not None:
        raise UserError("--auto makes its runs for the studio's own person; leave out --owner.")
    if args.auto is not None:
        return command_auto(args, data)
    config = config_from_args(args, data, world.size)
    owner = person_from_args(args)
    if owner.class_name and not owner.is_teacher and world.writes:
        hand_over(data, owner, config.image_size)
    started = time.perf_counter()
    if config.processes > 1 and not world.active:  # this process launches the others and waits
        from tlcore.runs.supervision.launch import check_devices, train_with_processes

        check_devices(config)
        run_dir = runs.create_run(config, args.runs_dir, owner=owner)
        if not args.quiet:
            print(f"training {run_dir.name} with {config.processes} processes...", file=sys.stderr)
        status = train_with_processes(run_dir, config.processes)
    else:
        run_dir = shared_run(world, config, args.runs_dir, owner)
        callbacks = [ProgressBar()] if not args.quiet and world.writes else []
        status = execute_run(run_dir, callbacks=callbacks, world=world)
        if not world.writes:  # rank 0 reports for the run
            return 0 if status["state"] == "succeeded" else 1
    print_result(run_dir, status, time.perf_counter() - started)
    return 0 if status["state"] == "succeeded" else 1


def existing_path(text: str | None, flag: str) -> Path | None:
    """The path given on the command line, or UserError naming the flag when it is not there."""
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"No such file or folder{' for ' + flag if flag else ''}: {path}")
    return path


def config_from_args(args, data: Path, world_size: int) -> RunConfig:
    """The run `train` asks for: its networks (with --init-from's), its sources and its options."""
    from tlcore.models.backbones import member_names
    from tlcore.runs.store.sources import check_source, resolve_source
    from tlcore.training.strategies import get_strategy

    target = existing_path(args.target, "--target")
    joint_with = existing_path(args.joint_with, "--joint-with")
    meta_sources = [existing_path(p.strip(), "--meta-source") for p in (args.meta_source or "").split(",")
                    if p.strip()]
    epochs = args.epochs if args.epochs is not None else get_strategy(args.strategy).default_epochs
    sources = [check_source(resolve_source(reference, args.runs_dir)) for reference in args.init_from or []]
    networks, member_runs = members_of(member_names(args.backbone) if args.backbone else [], sources)
    if len(networks) > 1 and sources and args.backbone and len(networks) > len(member_names(args.backbone)):
        print(f"note: --init-from's network joins --backbone's: the features of {', '.join(networks)} are combined "
              "side by side (feature extraction).", file=sys.stderr)
    source = sources[0] if sources and len(networks) == 1 else None
    if source is not None:
        member_runs = []  # one network: the run it starts from is init_from
    image_size = args.image_size or (sources[0].config.image_size if sources else RunConfig.image_size)
    return RunConfig(**{**run_options(args), "image_size": image_size},
                     data=str(data.resolve()), backbone="+".join(networks), strategy=args.strategy,
                     epochs=epochs, target=str(target.resolve()) if target else None,
                     options=strategy_options(args), seed=args.seed, weights_file=args.weights_file,
                     init_from=str(source.run_dir) if source else None,
                     member_runs=member_runs,
                     meta_sources=[str(p.resolve()) for p in meta_sources],
                     joint_with=str(joint_with.resolve()) if joint_with else None,
                     processes=args.nproc_per_node or world_size)


def print_result(run_dir: Path, status: dict, wall_s: float) -> None:
    """The run's figures as one JSON line on stdout; its error, and what the target lacks, on stderr."""
    result = {"run_id": run_dir.name, "run_dir": str(run_dir), "status": status["state"],
              "best_val_acc": status.get("best_val_acc"), "final_val_acc": status.get("final_val_acc"),
              "epochs": status.get("epochs_run"), "wall_s": round(wall_s, 2),
              "train_images_per_s": status.get("train_images_per_s"), "best_phase": status.get("best_phase")}
    for figure in ("body_distance", "final_body_distance", "best_target_acc", "final_target_acc",
                   "meta_episodes", "meta_first_acc", "meta_last_acc", "temperature", "ece_before", "ece_after"):
        if figure in status:
            result[figure] = status[figure]
    say_what_the_target_lacks(run_dir)
    if status.get("error"):
        result["error"] = status["error"]
        print(f"error: {status['error']}", file=sys.stderr)
    print(json.dumps(result), flush=True)


def command_auto(args, data: Path) -> int:
    """train --auto MINUTES: the candidates that fit, trained one after another here, and the choice."""
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.models.weights import weights_status
    from tlcore.report import auto_choice
    from tlcore.report.estimate import recall_or_measure
    from tlcore.runs.experiments.queue import run_here
    from tlcore.runs.execution.worker import execute_run

    if args.strategy != RunConfig.strategy or args.backbone or args.init_from or args.target or args.joint_with \
            or args.meta_source or args.head != RunConfig.head or args.seed != RunConfig.seed:
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
    except InputError as error:
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


def hand_over(data: Path, student, image_size: int) -> None:
    """The pictures of a run made for a student become one of their datasets, as an upload on the Data page
    does, so that their run reads only pictures of theirs (the store refuses any other)."""
    from tlcore import paths
    from tlcore.data import datasets
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=image_size)
    datasets.add_dataset(manifest, Path(data).name, "folder", data, owner=student)


def shared_run(world, config: RunConfig, runs_dir, owner) -> Path:
    """The run folder this process trains: made here, or under torchrun made by rank 0 and told to all
    (on storage every machine sees), after the process group has started."""
    from tlcore import runs
    from tlcore.runs.execution.network import process_device
    from tlcore.training import distributed

    if not world.active:
        return runs.create_run(config, runs_dir, claimed_by=os.getpid(), owner=owner)  # this process trains it
    distributed.join(world, process_device(config, world))
    return world.first_decides(lambda: runs.create_run(config, runs_dir, claimed_by=os.getpid(), owner=owner))


def say_what_the_target_lacks(run_dir: Path) -> None:
    """On stderr: target folders that name no training class, and a target without any labels."""
    from tlcore.runs.store.folder import RunFolder

    target = RunFolder(run_dir).read_target()
    if target is None:
        return
    if target.unknown_classes:
        print(f"note: the target's folders {', '.join(map(str, target.unknown_classes))} name no training class; "
              "their pictures count as unlabelled (used for alignment, not for target accuracy).", file=sys.stderr)
    if not target.labelled:
        print("note: no target picture is in a folder named like a training class, so no target accuracy "
              "can be measured.", file=sys.stderr)

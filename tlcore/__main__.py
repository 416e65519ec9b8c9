"""Command line: the same engine as the app, without a browser.

    python -m tlcore train DATA --backbone mobilenet_v2 --strategy feature_extraction --epochs 10
    python -m tlcore train DATA --strategy l2_sp --l2sp-alpha 0.1 --l2sp-beta 0.01
    python -m tlcore train DATA --strategy domain_adaptation --target PICTURES_WHERE_IT_WILL_BE_USED
    python -m tlcore train DATA --strategy fine_tune --init-from RUN_ID   (start from one of your runs)
    python -m tlcore train DATA --strategy fine_tune --joint-with SECOND_DATA   (two tasks, one network)
    python -m tlcore train DATA --strategy meta_learning --meta-source OTHER_DATA[,MORE]   (practise first)
    python -m tlcore predict RUN_DIR|EXPORT_DIR|EXPORT.zip IMAGE... [--min-confidence 0.6]
    python -m tlcore export RUN_DIR [--out DIR]
    python -m tlcore explain RUN_DIR picture.jpg --out overlay.png [--class NAME]   (Grad-CAM)
    python -m tlcore check-labels DATA       (labels that look wrong, the most suspicious first)
    python -m tlcore vendor fetch            (onnxruntime-web for the exported web page; needs npm)
    python -m tlcore backbones
    python -m tlcore weights fetch mobilenet_v2 efficientnet_lite0
    python -m tlcore worker RUN_DIR          (used by the app's runner)
"""
import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from tlcore.config import ConfigError, RunConfig


class UserError(Exception):
    """Bad input: printed as one line, exit code 2, no traceback."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a number of at least 1")
    return value


def confidence(text: str) -> float:
    """An argparse type: a probability from 0 to 1 (0.6), or a percentage (60%)."""
    problem = f"'{text}' is not a confidence from 0 to 1 (such as 0.6) or a percentage (such as 60%)"
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(problem) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(problem)
    return value


PREDICT_EPILOG = """\
Each picture gives one JSON line: {"image", "label", "sure", "top"}.
  "top"   the best classes, best first, each {"label", "probability"} (probabilities from 0 to 1).
  "label" the answer: the best class, or null when its probability is below --min-confidence.
  "sure"  false when the answer is null for that reason ("I'm not sure"), else true.
A picture that cannot be read gives {"image", "error"} instead, and the exit code is 1.

MODEL may be a run folder (~/.tlstudio/runs/<run id>), an export folder (python -m tlcore export),
or the export zip downloaded from the Predict page; an export is used as exported (model.onnx with
onnxruntime, else its TorchScript or .pt2 file)."""


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
    train.add_argument("--runs-dir", default=None)
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


def add_run_options(parser, strategies, image_size_help: str = "default: 128") -> None:
    """The options every run takes, for train and for an experiment's runs."""
    from tlcore.models.heads import list_heads

    warm_ups = ", ".join(s.name for s in strategies if s.warm_up)
    bodies = ", ".join(s.name for s in strategies if s.trains_body and s.pretrained)
    parser.add_argument("--epochs", type=int, default=None,
                        help="rounds of training (after the warm-up where there is one); default: the strategy's own ("
                             + ", ".join(f"{s.name} {s.default_epochs}" for s in strategies) + ")")
    parser.add_argument("--image-size", type=int, default=None, help=image_size_help)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--head", default="linear", choices=[h.name for h in list_heads()])
    parser.add_argument("--head-epochs", type=int, default=5, help=f"head warm-up epochs ({warm_ups})")
    parser.add_argument("--unfreeze-stages", type=int, default=0, help=f"last N stages train (0: all; {bodies})")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--early-stop", type=int, default=RunConfig.early_stop_patience, metavar="PATIENCE",
                        help="end a phase after this many epochs without a better validation accuracy (0: never)")


def run_options(args) -> dict:
    """RunConfig fields from add_run_options' options (epochs and image size only where given)."""
    values = dict(batch_size=args.batch_size, lr=args.lr, val_fraction=args.val_fraction, device=args.device,
                  head=args.head, augment=not args.no_augment, early_stop_patience=args.early_stop,
                  head_epochs=args.head_epochs, unfreeze_stages=args.unfreeze_stages)
    if args.image_size:
        values["image_size"] = args.image_size
    return values


def add_experiment_parser(sub) -> None:
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


def build_parser(with_registries: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tlcore", description="Transfer Learning Studio engine")
    sub = parser.add_subparsers(dest="command", required=True)
    if with_registries:
        add_train_parser(sub)
        add_experiment_parser(sub)

    predict = sub.add_parser("predict", help="top classes for images, one JSON line each",
                             epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("model", metavar="MODEL", help="a run folder, an export folder, or an export zip")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top", type=positive_int, default=3, help="how many classes to show per image")
    predict.add_argument("--min-confidence", type=confidence, default=0.0, metavar="P",
                         help="answer \"not sure\" (label null, sure false) when the best class's "
                              "probability is below P: 0 to 1 (0.6) or a percentage (60%%); default 0")

    explain = sub.add_parser("explain", help="what the network looks at (Grad-CAM): the picture and its heat map "
                                             "side by side in a PNG, and one JSON line")
    explain.add_argument("run_dir", metavar="RUN_DIR")
    explain.add_argument("picture", metavar="PICTURE")
    explain.add_argument("--out", required=True, metavar="OVERLAY.png")
    explain.add_argument("--class", dest="label", default=None, metavar="NAME",
                         help="the class to explain (default: the one the model gives the picture)")

    labels = sub.add_parser("check-labels", help="labels that look wrong: one JSON line per flagged picture (path, "
                                                 "given, suggested, score), the most suspicious first, then a "
                                                 "summary line")
    labels.add_argument("data", help="folder with one sub-folder per class, or with train/ and val/, or a .zip")
    labels.add_argument("--backbone", default="mobilenet_v2", help="the network whose features are compared")
    labels.add_argument("--image-size", type=int, default=128)
    labels.add_argument("--device", default="auto")

    export = sub.add_parser("export", help="write TorchScript, .pt2 and ONNX files with labels and preprocessing")
    export.add_argument("run_dir")
    export.add_argument("--out", default=None)

    vendor = sub.add_parser("vendor", help="fetch onnxruntime-web (pinned, checked) for the exported web page")
    vendor_sub = vendor.add_subparsers(dest="action", required=True)
    vendor_sub.add_parser("fetch", help="npm pack onnxruntime-web into vendor/ unless it is already there")

    sub.add_parser("backbones", help="the backbone catalog and whether each one's weights are available")

    weights = sub.add_parser("weights", help="pre-fetch pretrained weights")
    weights_sub = weights.add_subparsers(dest="action", required=True)
    fetch = weights_sub.add_parser("fetch")
    fetch.add_argument("names", nargs="+")

    worker = sub.add_parser("worker", help="execute one run folder (started by the app's runner)")
    worker.add_argument("run_dir")
    return parser


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


def command_experiment(args) -> int:
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore import paths
    from tlcore.report.experiment_report import size_words, write_report
    from tlcore.runs.experiments import grid_arms, new_experiment, results, run_here, training_pictures
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


def command_check_labels(args) -> int:
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.device import configure_cpu_threads, resolve_device
    from tlcore.serve.labels import check_labels

    data = Path(args.data).expanduser()
    if not data.exists():
        raise UserError(f"No such file or folder: {data}")
    configure_cpu_threads()
    manifest = scan(data, cache=ImageCache(paths.cache_dir()), image_size=args.image_size)
    found = check_labels(manifest, backbone=args.backbone, device=resolve_device(args.device))
    for suspect in found.suspects:
        print(json.dumps({"path": suspect.path, "given": suspect.given, "suggested": suspect.suggested,
                          "score": suspect.score}), flush=True)
    print(json.dumps({"pictures": found.pictures, "flagged": len(found.suspects), "folds": found.folds,
                      "seconds": found.seconds}), flush=True)
    return 0


def command_explain(args) -> int:
    from tlcore.data.imagecache import ImageProblem
    from tlcore.serve.explain import Explainer, side_by_side

    run_dir = Path(args.run_dir).expanduser()
    if not (run_dir / "model_best.pt").is_file():
        raise UserError(f"{run_dir} holds no trained model (model_best.pt): explain a finished run's folder.")
    explainer = Explainer.from_run(run_dir)  # a damaged model file: ValueError, said in words by main()
    try:
        explanation = explainer.explain_file(Path(args.picture).expanduser(), args.label)
    except ImageProblem as problem:
        raise UserError(f"{args.picture}: {problem.reason}") from None
    side_by_side(explanation).save(args.out)
    print(json.dumps({"image": args.picture, "class": explanation.label, "probability": explanation.probability,
                      "out": args.out}), flush=True)
    return 0


def command_train(args) -> int:
    import time

    from tlcore import runs
    from tlcore.runs.cli_progress import ProgressBar
    from tlcore.runs.worker import execute_run

    from tlcore.models.backbones import member_names
    from tlcore.runs.sources import check_source, resolve_source
    from tlcore.training.strategies import get_strategy

    data = Path(args.data).expanduser()
    if not data.exists():
        raise UserError(f"No such file or folder: {data}")
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
                       joint_with=str(joint_with.resolve()) if joint_with else None)
    run_dir = runs.create_run(config, args.runs_dir, claimed_by=os.getpid())  # this process trains it
    started = time.perf_counter()
    callbacks = []
    if not args.quiet:
        callbacks.append(ProgressBar())
    status = execute_run(run_dir, callbacks=callbacks)
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


def command_predict(args) -> int:
    from tlcore.serve.predictor import sure_answer
    from tlcore.serve.exported import NotAModel, open_predictor

    try:
        predictor = open_predictor(args.model)
    except NotAModel as problem:
        raise UserError(str(problem)) from None
    failed = False
    for image in args.images:
        outcome = predictor.predict_file(image, args.top) if Path(image).exists() else {"error": "no such file"}
        if "error" in outcome:
            failed = True
            line = {"image": image, **outcome}
        else:
            line = {"image": image, **sure_answer(outcome["top"], args.min_confidence), "top": outcome["top"]}
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


def command_export(args) -> int:
    from tlcore.serve.export import export_run
    from tlcore.serve.webexport import WEB_FOLDER
    from tlcore.serve.webvendor import VendorUnavailable, find_web_runtime

    run_dir = Path(args.run_dir)
    if not (run_dir / "model_best.pt").exists():
        raise UserError(f"{run_dir} holds no trained model (model_best.pt); is the run finished?")

    def progress(step: int, total: int, name: str) -> None:
        print(f"export {step}/{total}: {name}", file=sys.stderr, flush=True)

    written = export_run(run_dir, args.out, on_progress=progress)
    if f"{WEB_FOLDER}/index.html" not in written:
        try:
            find_web_runtime()
        except VendorUnavailable as problem:
            print(f"note: no web page in this export: {problem}", file=sys.stderr)
    print(json.dumps({name: str(path) for name, path in written.items()}))
    return 0


def command_vendor(args) -> int:
    from tlcore.errors import describe_os_error
    from tlcore.serve.webvendor import PACKAGE, VendorUnavailable, fetch_web_runtime

    try:
        runtime = fetch_web_runtime()
    except VendorUnavailable as problem:
        print(f"warning: {problem}. Exported models will come without their web page.", file=sys.stderr)
        return 1
    except OSError as error:  # vendor/ cannot be written: the system's words, and where
        print(f"warning: {describe_os_error(error)} Exported models will come without their web page.",
              file=sys.stderr)
        return 1
    print(f"{PACKAGE} {runtime.version}: {runtime.folder}")
    return 0


def command_backbones(args) -> int:
    from tlcore.models.backbones import list_backbones
    from tlcore.models.weights import weights_status

    print(f"{'name':20} {'params':>8} {'top-1':>6} {'dim':>5}  weights")
    for spec in list_backbones():
        status = weights_status(spec.name)
        state = f"available ({status.source})" if status.available else "not available"
        print(f"{spec.name:20} {spec.params_m:7.1f}M {spec.imagenet_top1:6.1f} {spec.feature_dim:5d}  {state}")
    return 0


def command_weights(args) -> int:
    from tlcore.models.weights import fetch_weights

    for name in args.names:
        path = fetch_weights(name)
        print(f"{name}: {path}")
    return 0


def command_worker(args) -> int:
    from tlcore.runs.worker import run_worker

    return run_worker(args.run_dir)


COMMANDS = {"train": command_train, "predict": command_predict, "export": command_export,
            "backbones": command_backbones, "weights": command_weights, "worker": command_worker,
            "vendor": command_vendor, "experiment": command_experiment, "explain": command_explain,
            "check-labels": command_check_labels}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Setup runs `vendor fetch` every time: it must not wait for torch, which the registries bring.
    args = build_parser(with_registries=argv[:1] != ["vendor"]).parse_args(argv)
    if args.command == "vendor":  # setup runs it every time: it must not wait for torch to import
        return command_vendor(args)
    from tlcore.data.scan import DataError
    from tlcore.errors import describe_os_error
    from tlcore.models.weights import WeightsUnavailable

    try:
        return COMMANDS[args.command](args)
    except (UserError, ConfigError, DataError, WeightsUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be written, a full disk: the system's words, and where
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: the computer ran out of memory; try smaller images or a smaller network.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

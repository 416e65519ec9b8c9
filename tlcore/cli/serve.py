"""predict, export, explain and check-labels: a trained model put to use, and a dataset's labels checked."""
import argparse
import json
import sys
from pathlib import Path

from tlcore.cli.options import UserError, confidence, positive_int
from tlcore.config import RunConfig
from tlcore.runs.store.folder import RunFolder


PREDICT_EPILOG = """\
Each picture gives one JSON line: {"image", "label", "sure", "familiar", "top"}.
  "top"      the best classes, best first, each {"label", "probability"} (probabilities from 0 to 1,
             scaled by the temperature fitted after training, so 80% is right about 80% of the time).
  "familiar" 0 to 1: how much the picture looks like the pictures the model learned from (the share
             of the pictures checked after training that looked less so); absent for a model saved
             before the studio measured it.
  "label"    the answer: the best class, or null when its probability is below --min-confidence (or
             below the confidence an export asks of that class, in its answers.json) or
             the picture is unlike every class ("none of these": familiar below the model's threshold).
  "sure"     false when the answer is null, else true.
A picture that cannot be read gives {"image", "error"} instead, and the exit code is 1.

MODEL may be a run folder (~/.tlstudio/runs/<run id>), an export folder (python -m tlcore export),
or the export zip downloaded from the Predict page; an export is used as exported (model.onnx with
onnxruntime, else its TorchScript or .pt2 file)."""


def add_serve_parsers(sub) -> None:
    """The predict, explain, check-labels and export commands."""
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
    labels.add_argument("--backbone", default=RunConfig.backbone, help="the network whose features are compared")
    labels.add_argument("--image-size", type=int, default=RunConfig.image_size)
    labels.add_argument("--device", default=RunConfig.device)

    export = sub.add_parser("export", help="write TorchScript, .pt2 and ONNX files with labels and preprocessing")
    export.add_argument("run_dir")
    export.add_argument("--out", default=None)


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
            line = {"image": image, **sure_answer(outcome["top"], args.min_confidence, outcome.get("familiar"),
                                                  predictor.familiar_threshold, predictor.class_min_confidence),
                    "top": outcome["top"]}
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


def command_export(args) -> int:
    from tlcore.serve.export import export_run
    from tlcore.serve.webexport import WEB_FOLDER
    from tlcore.serve.webvendor import VendorUnavailable, find_web_runtime

    run_dir = Path(args.run_dir)
    if not RunFolder(run_dir).model_path.exists():
        raise UserError(f"{run_dir} holds no trained model ({RunFolder.MODEL}); is the run finished?")

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


def command_explain(args) -> int:
    from tlcore.data.picture_file import ImageProblem
    from tlcore.serve.explain import Explainer, side_by_side

    run_dir = Path(args.run_dir).expanduser()
    if not RunFolder(run_dir).has_model():
        raise UserError(f"{run_dir} holds no trained model ({RunFolder.MODEL}): explain a finished run's folder.")
    explainer = Explainer.from_run(run_dir)  # a damaged model file: WeightsFileError, said in words by main()
    try:
        explanation = explainer.explain_file(Path(args.picture).expanduser(), args.label)
    except ImageProblem as problem:
        raise UserError(f"{args.picture}: {problem.reason}") from None
    side_by_side(explanation).save(args.out)
    print(json.dumps({"image": args.picture, "class": explanation.label, "probability": explanation.probability,
                      "out": args.out}), flush=True)
    return 0


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

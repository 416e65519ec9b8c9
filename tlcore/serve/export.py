"""Export a finished run (TorchScript, torch.export .pt2, ONNX, labels, preprocessing, a README,
predict.py and a web page) and predict with it."""
import io
import json
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from tlcore.diskspace import require_free_space
from tlcore.serve.export_bundle import write_predict_script, write_readme
from tlcore.serve.exported import ANSWERS_FILE, FILE_NAMES
from tlcore.models.answering import AnsweringModel, Answers
from tlcore.models.classifier import checkpoint_bytes, load_checkpoint
from tlcore.runs import RunFolder
from tlcore.serve.webexport import DEFAULT_MIN_CONFIDENCE, WEB_FOLDER, write_web_page
from tlcore.serve.webvendor import VendorUnavailable, find_web_runtime

FORMATS = ("torchscript", "pt2", "onnx")
STEP_NAMES = {"torchscript": "TorchScript", "pt2": "torch.export (.pt2)", "onnx": "ONNX",
              "extras": "README, predict.py and the web page"}
WEB_RUNTIME_BYTES = 20 * 1024**2  # the wasm binary as base64 text, in web/

ProgressCallback = Callable[[int, int, str], None]


class ExportedClassifier(nn.Module):
    """The answering model with its preprocessing inside: float RGB NCHW in [0, 1] at the run's size ->
    (logits over the fitted temperature, familiarity 0 to 1)."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model((x - self.mean) / self.std)


def preprocessing_info(config, spec) -> dict:
    return {
        "input": "float32 RGB tensor [N, 3, H, W] with values in [0, 1]; the model normalizes internally",
        "image_size": config.image_size,
        "resize": f"shorter side to {config.image_size} px (bilinear, antialiased), then center crop "
                  f"{config.image_size}x{config.image_size}",
        "mean": list(spec.mean), "std": list(spec.std),
        "output": "logits [N, num_classes], already divided by the fitted temperature (answers.json): softmax "
                  "gives calibrated probabilities in the order of labels.json; and familiar [N], 0 to 1",
    }


def answers_info(answers: Answers, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 class_min_confidence: dict[str, float] | None = None) -> dict:
    """answers.json: what the model's two outputs mean and where to draw the lines (the confidence asked
    for every class, and of some classes in its place)."""
    return {
        "temperature": round(float(answers.temperature), 4),
        "temperature_applied": "inside the model: its logits are already divided by it",
        "familiar_threshold": answers.threshold_in_use,
        "familiar": "the share of the pictures checked after training (of known classes) that looked less like "
                    "the training pictures than this one; below familiar_threshold answer 'none of these'",
        "min_confidence": float(min_confidence),
        "class_min_confidence": {str(k): float(v) for k, v in (class_min_confidence or {}).items()},
    }


def write_settings(out_dir: Path, **settings) -> dict[str, Path]:
    """labels.json, preprocessing.json and answers.json; returns kind -> file written."""
    names = {"labels": "labels.json", "preprocessing": "preprocessing.json", "answers": ANSWERS_FILE}
    written = {kind: out_dir / names[kind] for kind in settings}
    for kind, value in settings.items():
        written[kind].write_text(json.dumps(value, indent=1))
    return written


def label_onnx_file(path: Path, labels: list[str], settings: dict) -> None:
    """The class names and answers.json's lines in the ONNX file's own metadata, for programs given the file alone."""
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"labels": json.dumps(labels), "temperature": str(settings["temperature"]),
                                        "familiar_threshold": json.dumps(settings["familiar_threshold"]),
                                        "min_confidence": str(settings["min_confidence"]),
                                        "class_min_confidence": json.dumps(settings["class_min_confidence"])})
    onnx.save(model, str(path))


def export_steps(formats=FORMATS) -> list[str]:
    """The steps of an export, in order: each chosen format, then the README, predict.py and web page."""
    return [name for name in FORMATS if name in formats] + ["extras"]


def export_run(run_dir: Path, out_dir: Path | None = None, formats=FORMATS,
               on_progress: ProgressCallback | None = None, title: str | None = None,
               min_confidence: float = DEFAULT_MIN_CONFIDENCE,
               class_min_confidence: dict[str, float] | None = None) -> dict[str, Path]:
    """Write the best model of a run in the chosen formats, with labels, preprocessing, a README,
    predict.py and (with ONNX, where onnxruntime-web has been fetched) a web page.

    Args:
        formats: any of FORMATS.
        on_progress: called as each step starts, with (step, total, name in words); step counts from 1.
        title: the run's name for the README and the web page (default: the run folder's name).
        min_confidence, class_min_confidence: the confidence below which the web page says "I'm not sure"
            (at first: its slider moves), and the one asked of some classes in its place (answers.json).

    Returns:
        file name or kind -> file written: the format names, "labels", "preprocessing", "readme",
        "predict_script", and "web/<name>" for each file of the web page.
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or RunFolder(run_dir).export_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, config, labels, meta = load_checkpoint(RunFolder(run_dir).model_path)
    answers = Answers.from_meta(meta.get("answers"))
    # Each format holds every weight once (the web page the ONNX one again, as base64 text);
    # refused now, not with a format half written.
    model_bytes = checkpoint_bytes(model)
    web_bytes = 2 * model_bytes + WEB_RUNTIME_BYTES if "onnx" in formats else 0
    require_free_space(out_dir, len(formats) * model_bytes + web_bytes, "the exported model files")
    steps = export_steps(formats)

    def starting(step: str) -> None:
        if on_progress is not None:
            on_progress(steps.index(step) + 1, len(steps), STEP_NAMES[step])

    spec = model.backbone.spec
    exported = ExportedClassifier(AnsweringModel(model, answers), spec.mean, spec.std).eval()
    example = torch.rand(2, 3, config.image_size, config.image_size)
    preprocessing = preprocessing_info(config, spec)
    settings = answers_info(answers, min_confidence, class_min_confidence)
    written = write_settings(out_dir, labels=labels, preprocessing=preprocessing, answers=settings)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice is for us, not for the person exporting
        if "torchscript" in formats:
            starting("torchscript")
            traced = torch.jit.trace(exported, example, check_trace=False)
            written["torchscript"] = out_dir / FILE_NAMES["torchscript"]
            traced.save(str(written["torchscript"]))
        batch = torch.export.Dim("batch", min=1, max=1024)
        if "pt2" in formats:
            starting("pt2")
            program = torch.export.export(exported, (example,), dynamic_shapes=({0: batch},))
            written["pt2"] = out_dir / FILE_NAMES["pt2"]
            torch.export.save(program, written["pt2"])
        if "onnx" in formats:
            starting("onnx")
            written["onnx"] = out_dir / FILE_NAMES["onnx"]
            torch.onnx.export(exported, (example,), str(written["onnx"]), input_names=["image"],
                              output_names=["logits", "familiar"], dynamic_shapes=({0: batch},), dynamo=True,
                              external_data=False, verbose=False)
            label_onnx_file(written["onnx"], labels, settings)
    starting("extras")
    title = title or config.name or run_dir.name
    web_problem = None
    if "onnx" not in formats:
        web_problem = "the web page runs the ONNX model, and ONNX was not among the chosen formats"
    else:
        try:
            page = write_web_page(out_dir, written["onnx"], labels, config.image_size, title, find_web_runtime(),
                                  answers=settings)
            written.update({f"{WEB_FOLDER}/{name}": path for name, path in page.items()})
        except VendorUnavailable as problem:
            web_problem = f"{problem}. Export again from a studio whose setup could fetch it"
    written["predict_script"] = write_predict_script(out_dir)
    accuracy = RunFolder(run_dir).read_status().get("best_val_acc")  # checked: a number or absent
    top_level = [path.name for key, path in written.items() if not key.startswith(f"{WEB_FOLDER}/")]
    written["readme"] = write_readme(out_dir, title=title, labels=labels, preprocessing=preprocessing,
                                     files=["README.md", *top_level], web_problem=web_problem,
                                     accuracy=accuracy, tta=config.tta)
    return written


def export_zip(run_dir: Path, formats=FORMATS, on_progress: ProgressCallback | None = None,
               title: str | None = None, **answers) -> bytes:
    """All export files of a run in one zip, for a download button.

    on_progress gets one step more than export_run's: packing the zip. answers: export_run's
    min_confidence and class_min_confidence.
    """
    total = len(export_steps(formats)) + 1

    def progress(step: int, _: int, name: str) -> None:
        if on_progress is not None:
            on_progress(step, total, name)

    # A folder of its own for each export, beside the run rather than inside it: a run shared with the class
    # is read-only to the students who export it, and two of them may export it at the same moment.
    with tempfile.TemporaryDirectory(prefix=".export-", dir=Path(run_dir).parent) as folder:
        out_dir = Path(folder)
        files = export_run(run_dir, out_dir, formats=formats, on_progress=progress, title=title, **answers)
        progress(total, total, "Packing the zip")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(set(files.values())):
                archive.write(path, arcname=Path(path).relative_to(out_dir).as_posix())
    return buffer.getvalue()

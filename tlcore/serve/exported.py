"""Predict with what a person has in hand: a run folder, an export folder, or the downloaded zip.

An export is used as exported (model.onnx through onnxruntime, else the TorchScript or .pt2 file),
so the command line answers exactly what the downloaded files answer.
"""
from __future__ import annotations

import tempfile
import zlib
import warnings
import zipfile
from pathlib import Path

import numpy as np

from tlcore.data.archive import check_declared_sizes
from tlcore.jsonio import load_json
from tlcore.data.manifest import DataError
from tlcore.serve.picture_predictor import PicturePredictor, Ranked, ranked
from tlcore.training.calibration import softmax
from tlcore.serve.predictor import Predictor
from tlcore.errors import InputError
from tlcore.runs.store.folder import RunFolder

FILE_NAMES = {"torchscript": "model.torchscript.pt", "pt2": "model.pt2", "onnx": "model.onnx"}
MODEL_FILES = (FILE_NAMES["onnx"], FILE_NAMES["torchscript"], FILE_NAMES["pt2"])  # preferred first
SETTINGS_FILES = ("labels.json", "preprocessing.json")
ANSWERS_FILE = "answers.json"  # the temperature and familiarity threshold; exports made before it have none


class NotAModel(InputError):
    """The path is none of the things predict accepts; the message says what it is instead."""


class ExportedPredictor(PicturePredictor):
    """An export folder's model, labels and picture size, loaded once for many pictures."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        self.labels, self.image_size = _read_settings(folder)
        self.familiar_threshold, self.class_min_confidence = _read_answers(folder, self.labels)
        self.model_file, self._outputs = _load_model(folder)

    def answer_arrays(self, images: np.ndarray, top_k: int = 3) -> tuple[list[Ranked], list[float | None]]:
        x = np.ascontiguousarray(np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        outputs = self._outputs(x)
        familiar = outputs[1] if len(outputs) > 1 and self.familiar_threshold is not None else [None] * len(x)
        return ranked(softmax(outputs[0]), self.labels, top_k), \
            [None if f is None else round(float(f), 4) for f in familiar]


def open_predictor(path: str | Path):
    """A Predictor for a run folder, or an ExportedPredictor for an export folder or zip.

    Raises:
        NotAModel: anything else, or a run that has no trained model yet; in words.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise NotAModel(f"No such file or folder: {path}")
    if path.is_dir():
        if RunFolder(path).has_model():
            return Predictor(path)
        if is_export_folder(path):
            return ExportedPredictor(path)
        if RunFolder(path).config_path.is_file() and RunFolder(path).status_path.is_file():
            raise NotAModel(f"{path} is a run folder with no trained model ({RunFolder.MODEL}) yet; "
                            "is the run finished?")
        raise NotAModel(f"{path} is not a run folder or an export folder: it holds no trained model "
                        f"({RunFolder.MODEL}, or {', '.join(MODEL_FILES)} with labels.json)")
    if zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="tlstudio-export-") as scratch:
            _extract_export(path, Path(scratch))
            return ExportedPredictor(Path(scratch))  # every model format is read into memory
    raise NotAModel(f"{path} is not a run folder, an export folder or an export zip")


def is_export_folder(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SETTINGS_FILES) and \
        any((folder / name).is_file() for name in MODEL_FILES)


def _extract_export(archive_path: Path, target: Path) -> None:
    """The settings and one model from the zip, by exact name, so no entry can land outside target."""
    try:
        _extract_checked(archive_path, target)
    except (zipfile.BadZipFile, zlib.error, EOFError, DataError) as error:  # cut short, damaged, or a bomb
        raise NotAModel(f"{archive_path} is a damaged zip ({error})") from None


def _extract_checked(archive_path: Path, target: Path) -> None:
    with zipfile.ZipFile(archive_path) as archive:
        check_declared_sizes(archive, archive_path)
        names = set(archive.namelist())
        missing = [name for name in SETTINGS_FILES if name not in names]
        models = [name for name in MODEL_FILES if name in names]
        if missing or not models:
            raise NotAModel(f"{archive_path} is a zip but not a studio export: it lacks "
                            f"{', '.join(missing) or ' or '.join(MODEL_FILES)}")
        for name in [*SETTINGS_FILES, *([ANSWERS_FILE] if ANSWERS_FILE in names else []), *models]:
            (target / name).write_bytes(archive.read(name))


def _read_settings(folder: Path) -> tuple[list[str], int]:
    try:
        labels = load_json(folder / "labels.json")
        image_size = load_json(folder / "preprocessing.json")["image_size"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NotAModel(f"the export's labels.json or preprocessing.json is damaged ({error})") from None
    if not (isinstance(labels, list) and labels and all(isinstance(label, str) for label in labels)):
        raise NotAModel("the export's labels.json is not a list of class names")
    if not isinstance(image_size, int) or not 8 <= image_size <= 4096:
        raise NotAModel(f"the export's preprocessing.json gives an impossible image size ({image_size!r})")
    return labels, image_size


def _read_answers(folder: Path, labels: list[str]) -> tuple[float | None, dict[str, float] | None]:
    """answers.json's familiarity threshold and the confidence asked of some classes; None for what the
    export lacks (made before them, or a damaged file: the answers are then the top classes alone)."""
    def share(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1

    try:
        settings = load_json(folder / ANSWERS_FILE)
        threshold, per_class = settings.get("familiar_threshold"), settings.get("class_min_confidence") or {}
        per_class = {str(k): float(v) for k, v in per_class.items() if k in labels and share(v)}
    except (OSError, ValueError, AttributeError, TypeError):
        return None, None
    return (float(threshold) if share(threshold) else None), (per_class or None)


def _load_model(folder: Path):
    """(file used, a function float32 NCHW -> [logits, familiarity when the model gives it]), trying the
    formats in MODEL_FILES order."""
    problems = []
    for name in MODEL_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            return name, (_onnx_logits(path) if name.endswith(".onnx") else _torch_logits(path))
        except ImportError as error:  # no onnxruntime here: the next format
            problems.append(f"{name} needs {error.name}")
        except (RuntimeError, ValueError, OSError) as error:  # damaged file: say which, try the next
            problems.append(f"{name} is not a usable model ({str(error).splitlines()[0][:200]})")
    raise NotAModel("the export has no model this computer can use: " + "; ".join(problems))


def _onnx_logits(path: Path):
    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    # onnxruntime's error classes derive from Exception only; these are the ones a bad file raises.
    loading_errors = (ort_errors.Fail, ort_errors.InvalidProtobuf, ort_errors.InvalidGraph,
                      ort_errors.InvalidArgument, ort_errors.NoSuchFile, ort_errors.RuntimeException)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except loading_errors as error:
        raise NotAModel(f"{path.name} is not a model onnxruntime can run ({error}).") from error
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x})


def _torch_logits(path: Path):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        model = torch.export.load(str(path)).module() if path.suffix == ".pt2" else \
            torch.jit.load(str(path), map_location="cpu").eval()

    def outputs(x: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            found = model(torch.from_numpy(x))
        return [t.numpy() for t in (found if isinstance(found, (tuple, list)) else (found,))]
    return outputs

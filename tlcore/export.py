"""Export a finished run (TorchScript, torch.export .pt2, ONNX, labels, preprocessing) and predict with it."""
import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .imagecache import ImageProblem, load_rgb, resize_center_crop
from .inputs import to_model_input
from .diskspace import require_free_space
from .model import checkpoint_bytes, load_checkpoint

FORMATS = ("torchscript", "pt2", "onnx")


class ExportedClassifier(nn.Module):
    """The classifier with its preprocessing inside: float RGB NCHW in [0, 1] at the run's size -> logits."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def preprocessing_info(config, spec) -> dict:
    return {
        "input": "float32 RGB tensor [N, 3, H, W] with values in [0, 1]; the model normalizes internally",
        "image_size": config.image_size,
        "resize": f"shorter side to {config.image_size} px (bilinear, antialiased), then center crop "
                  f"{config.image_size}x{config.image_size}",
        "mean": list(spec.mean), "std": list(spec.std),
        "output": "logits [N, num_classes]; softmax gives probabilities in the order of labels.json",
    }


def export_run(run_dir: Path, out_dir: Path | None = None, formats=FORMATS) -> dict[str, Path]:
    """Write the best model of a run in the chosen formats, with labels and preprocessing.

    Returns:
        format name -> file written (also "labels" and "preprocessing").
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir / "export")
    out_dir.mkdir(parents=True, exist_ok=True)
    model, config, labels, _ = load_checkpoint(run_dir / "model_best.pt")
    # Each format holds every weight once; refused now, not with a format half written.
    require_free_space(out_dir, len(formats) * checkpoint_bytes(model), "the exported model files")
    spec = model.backbone.spec
    exported = ExportedClassifier(model, spec.mean, spec.std).eval()
    example = torch.rand(2, 3, config.image_size, config.image_size)
    written = {"labels": out_dir / "labels.json", "preprocessing": out_dir / "preprocessing.json"}
    written["labels"].write_text(json.dumps(labels, indent=1))
    written["preprocessing"].write_text(json.dumps(preprocessing_info(config, spec), indent=1))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice is for us, not for the person exporting
        if "torchscript" in formats:
            traced = torch.jit.trace(exported, example, check_trace=False)
            written["torchscript"] = out_dir / "model.torchscript.pt"
            traced.save(str(written["torchscript"]))
        batch = torch.export.Dim("batch", min=1, max=1024)
        if "pt2" in formats:
            program = torch.export.export(exported, (example,), dynamic_shapes=({0: batch},))
            written["pt2"] = out_dir / "model.pt2"
            torch.export.save(program, written["pt2"])
        if "onnx" in formats:
            written["onnx"] = out_dir / "model.onnx"
            torch.onnx.export(exported, (example,), str(written["onnx"]), input_names=["image"],
                              output_names=["logits"], dynamic_shapes=({0: batch},), dynamo=True,
                              external_data=False, verbose=False)
    return written


def export_zip(run_dir: Path, formats=FORMATS) -> bytes:
    """All export files of a run in one zip, for a download button."""
    files = export_run(run_dir, formats=formats)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files.values():
            archive.write(path, arcname=Path(path).name)
    return buffer.getvalue()


class Predictor:
    """A run's best model loaded once, for predicting many images."""

    def __init__(self, run_dir: Path):
        self.model, self.config, self.labels, self.meta = load_checkpoint(Path(run_dir) / "model_best.pt")
        self.model = self.model.to(memory_format=torch.channels_last)
        self.spec = self.model.backbone.spec

    @torch.inference_mode()
    def predict_arrays(self, images: np.ndarray, top_k: int = 3) -> list[list[tuple[str, float]]]:
        """uint8 [N, S, S, 3] at the run's image size -> top classes with probabilities, per image."""
        x = to_model_input(torch.from_numpy(np.array(images, dtype=np.uint8)), self.spec.mean, self.spec.std, torch.device("cpu"))
        probabilities = self.model(x).softmax(1)
        top = probabilities.topk(min(top_k, len(self.labels)), dim=1)
        return [[(self.labels[i], round(float(p), 5)) for p, i in zip(values, indices)]
                for values, indices in zip(top.values.tolist(), top.indices.tolist())]

    def predict_file(self, path, top_k: int = 3) -> dict:
        """One image file (or file-like object) -> {"top": [...]} or {"error": reason}."""
        try:
            image = load_rgb(path)
        except ImageProblem as problem:
            return {"error": problem.reason}
        return {"top": self.predict_image(image, top_k)}

    def predict_image(self, image: Image.Image, top_k: int = 3) -> list[dict]:
        """A decoded RGB image -> its top classes, [{"label", "probability"}], best first."""
        array = resize_center_crop(image, self.config.image_size)
        return [{"label": label, "probability": p} for label, p in self.predict_arrays(array[None], top_k)[0]]

"""Predicting with a run folder's best model, and the answer to give for ranked classes."""
from pathlib import Path

import numpy as np
import torch

from tlcore.data.batches import to_model_input
from tlcore.models.classifier import load_checkpoint
from tlcore.serve.picture_predictor import PicturePredictor
from tlcore.runs.store.folder import RunFolder


def sure_answer(top: list[dict], min_confidence: float) -> dict:
    """The answer to give for ranked classes: {"label": the best class, or None when its probability
    is below min_confidence, "sure": whether it reached it}."""
    sure = bool(top) and top[0]["probability"] >= min_confidence
    return {"label": top[0]["label"] if sure else None, "sure": sure}


class Predictor(PicturePredictor):
    """A run's best model loaded once, for predicting many images."""

    def __init__(self, run_dir: Path, tta: bool | None = None):
        """tta: average each picture's probabilities with its mirror image's (test-time augmentation);
        None does as the run was validated."""
        self.model, self.config, self.labels, self.meta = load_checkpoint(RunFolder(run_dir).model_path)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.spec = self.model.backbone.spec
        self.image_size = self.config.image_size
        self.tta = self.config.tta if tta is None else tta

    @torch.inference_mode()
    def predict_arrays(self, images: np.ndarray, top_k: int = 3) -> list[list[tuple[str, float]]]:
        """uint8 [N, S, S, 3] at the run's image size -> top classes with probabilities, per image."""
        x = to_model_input(torch.from_numpy(np.array(images, dtype=np.uint8)), self.spec.mean, self.spec.std,
                           torch.device("cpu"))
        probabilities = self.model(x).softmax(1)
        if self.tta:
            probabilities = (probabilities + self.model(torch.flip(x, dims=[3])).softmax(1)) / 2
        top = probabilities.topk(min(top_k, len(self.labels)), dim=1)
        return [[(self.labels[i], round(float(p), 5)) for p, i in zip(values, indices)]
                for values, indices in zip(top.values.tolist(), top.indices.tolist())]

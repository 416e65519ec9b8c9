"""Predicting with a run folder's best model, and the answer to give for ranked classes."""
from pathlib import Path

import numpy as np
import torch

from tlcore.data.batches import to_model_input
from tlcore.models.answering import AnsweringModel, Answers
from tlcore.models.classifier import load_checkpoint
from tlcore.serve.picture_predictor import PicturePredictor, Ranked, ranked
from tlcore.runs.store.folder import RunFolder


def sure_answer(top: list[dict], min_confidence: float, familiar: float | None = None,
                familiar_threshold: float | None = None, class_min_confidence: dict | None = None) -> dict:
    """The answer to give for ranked classes: {"label": the best class, or None when its probability is
    below the confidence asked (class_min_confidence's for that class, else min_confidence) or the picture
    looks unlike every class (familiar below familiar_threshold), "sure": whether it named one}, with
    "familiar" when the model measures it."""
    unfamiliar = none_of_these(familiar, familiar_threshold)
    needed = (class_min_confidence or {}).get(top[0]["label"], min_confidence) if top else min_confidence
    sure = bool(top) and top[0]["probability"] >= needed and not unfamiliar
    answer = {"label": top[0]["label"] if sure else None, "sure": sure}
    if familiar is not None:
        answer["familiar"] = round(float(familiar), 4)
    return answer


def none_of_these(familiar: float | None, familiar_threshold: float | None) -> bool:
    """Whether the picture looks unlike every class the model knows."""
    return familiar is not None and familiar_threshold is not None and familiar < familiar_threshold


class Predictor(PicturePredictor):
    """A run's best model loaded once, for predicting many images."""

    def __init__(self, run_dir: Path, tta: bool | None = None):
        """tta: average each picture's probabilities with its mirror image's (test-time augmentation);
        None does as the run was validated."""
        model, self.config, self.labels, self.meta = load_checkpoint(RunFolder(run_dir).model_path)
        answers = Answers.from_meta(self.meta.get("answers"))
        self.model = AnsweringModel(model, answers).eval().to(memory_format=torch.channels_last)
        self.temperature = answers.temperature
        self.familiar_threshold = answers.threshold_in_use
        self.spec = model.backbone.spec
        self.image_size = self.config.image_size
        self.tta = self.config.tta if tta is None else tta

    @torch.inference_mode()
    def answer_arrays(self, images: np.ndarray, top_k: int = 3) -> tuple[list[Ranked], list[float | None]]:
        x = to_model_input(torch.from_numpy(np.array(images, dtype=np.uint8)), self.spec.mean, self.spec.std,
                           torch.device("cpu"))
        logits, familiar = self.model(x)
        probabilities = logits.softmax(1)
        if self.tta:  # the mirror image's probabilities too; familiarity is the picture's own
            probabilities = (probabilities + self.model(torch.flip(x, dims=[3]))[0].softmax(1)) / 2
        known = self.familiar_threshold is not None
        return ranked(probabilities.numpy(), self.labels, top_k), \
            [round(float(f), 4) if known else None for f in familiar.tolist()]

"""What every predictor shares: a picture (a file, an upload, a decoded image) in, its answer out.

A run's own model (tlcore.serve.predictor.Predictor) and an exported one (tlcore.serve.exported.
ExportedPredictor) differ only in how they turn a batch of pictures into probabilities and familiarity.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from tlcore.data.picture_file import ImageProblem, load_rgb, resize_center_crop

Ranked = list[tuple[str, float]]


class PicturePredictor:
    """Subclasses set ``image_size``, ``labels`` and ``familiar_threshold`` and implement ``answer_arrays``."""

    image_size: int
    labels: list[str]
    # Below this familiarity a picture is "none of these"; None for a model that kept no pictures to compare.
    familiar_threshold: float | None = None
    # A confidence asked of some classes in place of the one for all (an export's answers.json).
    class_min_confidence: dict[str, float] | None = None

    def answer_arrays(self, images: np.ndarray, top_k: int = 3) -> tuple[list[Ranked], list[float | None]]:
        """uint8 [N, S, S, 3] at image_size -> (top classes with probabilities, familiarity 0 to 1 or None),
        per image."""
        raise NotImplementedError

    def predict_arrays(self, images: np.ndarray, top_k: int = 3) -> list[Ranked]:
        """uint8 [N, S, S, 3] at image_size -> top classes with probabilities, per image."""
        return self.answer_arrays(images, top_k)[0]

    def predict_file(self, path, top_k: int = 3) -> dict:
        """One image file (or file-like object) -> {"top": [...], "familiar": 0 to 1 or None} or {"error": reason}."""
        try:
            image = load_rgb(path)
        except ImageProblem as problem:
            return {"error": problem.reason}
        return self.answer_image(image, top_k)

    def answer_image(self, image: Image.Image, top_k: int = 3) -> dict:
        """A decoded RGB image -> {"top": [{"label", "probability"}] best first, "familiar": 0 to 1 or None}."""
        tops, familiar = self.answer_arrays(resize_center_crop(image, self.image_size)[None], top_k)
        return {"top": [{"label": label, "probability": p} for label, p in tops[0]], "familiar": familiar[0]}

    def predict_image(self, image: Image.Image, top_k: int = 3) -> list[dict]:
        """A decoded RGB image -> its top classes, [{"label", "probability"}], best first."""
        return self.answer_image(image, top_k)["top"]


def ranked(probabilities: np.ndarray, labels: list[str], top_k: int) -> list[Ranked]:
    """Per row of probabilities, the top_k classes with their probabilities, best first (ties by order)."""
    k = min(top_k, len(labels))
    return [[(labels[i], round(float(row[i]), 5)) for i in np.argsort(-row, kind="stable")[:k]]
            for row in np.asarray(probabilities, dtype=np.float64)]

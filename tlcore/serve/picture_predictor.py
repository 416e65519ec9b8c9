"""What every predictor shares: a picture (a file, an upload, a decoded image) in, its top classes out.

A run's own model (tlcore.export.Predictor) and an exported one (tlcore.exported.ExportedPredictor)
differ only in how they turn a batch of pictures into probabilities.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from tlcore.data.picture_file import ImageProblem, load_rgb, resize_center_crop


class PicturePredictor:
    """Subclasses set ``image_size`` and ``labels`` and implement ``predict_arrays``."""

    image_size: int
    labels: list[str]

    def predict_arrays(self, images: np.ndarray, top_k: int = 3) -> list[list[tuple[str, float]]]:
        """uint8 [N, S, S, 3] at image_size -> top classes with probabilities, per image."""
        raise NotImplementedError

    def predict_file(self, path, top_k: int = 3) -> dict:
        """One image file (or file-like object) -> {"top": [...]} or {"error": reason}."""
        try:
            image = load_rgb(path)
        except ImageProblem as problem:
            return {"error": problem.reason}
        return {"top": self.predict_image(image, top_k)}

    def predict_image(self, image: Image.Image, top_k: int = 3) -> list[dict]:
        """A decoded RGB image -> its top classes, [{"label", "probability"}], best first."""
        array = resize_center_crop(image, self.image_size)
        return [{"label": label, "probability": p} for label, p in self.predict_arrays(array[None], top_k)[0]]

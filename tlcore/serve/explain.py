"""What the network looks at: Grad-CAM (Selvaraju et al. 2017, the `grad-cam` package) for one picture
and one class, as a heat map over the picture.

Every backbone names the layer to explain (tlcore.models.backbones, timm's in timm_backbones: the last
feature map before pooling, with a ViT's patch tokens laid out as a map), so every strategy's model can
be explained, one started from a run included.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from tlcore.data.batches import to_model_input
from tlcore.data.picture_file import load_rgb, resize_center_crop
from tlcore.models.classifier import Classifier, load_checkpoint
from tlcore.errors import InputError
from tlcore.runs.store.folder import RunFolder


@dataclass(frozen=True)
class Explanation:
    picture: np.ndarray  # uint8 [S, S, 3], the picture as the network saw it
    heat: np.ndarray  # float32 [S, S] in 0..1: how much each place raised the class's score
    overlay: np.ndarray  # uint8 [S, S, 3], the heat over the picture
    label: str  # the class explained
    probability: float  # the model's probability for that class


class Explainer:
    """A model ready to explain pictures of its image size."""

    def __init__(self, model: Classifier, labels: list[str], image_size: int):
        self.model, self.labels, self.image_size = model.eval(), list(labels), image_size

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "Explainer":
        """A run's kept model. Raises OSError or ValueError when its model file is missing or damaged."""
        model, config, labels, _ = load_checkpoint(RunFolder(run_dir).model_path)
        return cls(model, labels, config.image_size)

    def explain_file(self, path, label: str | None = None) -> Explanation:
        return self.explain(load_rgb(path), label)

    def explain(self, image: Image.Image, label: str | None = None) -> Explanation:
        """Grad-CAM for a decoded picture and a class (default: the one the model gives it).

        Raises ValueError for a class the model does not know.
        """
        if label is not None and label not in self.labels:
            raise InputError(f"The model knows no class '{label}'; it knows {', '.join(self.labels)}.")
        picture = resize_center_crop(image, self.image_size)
        spec = self.model.backbone.spec
        x = to_model_input(torch.from_numpy(picture[None].copy()), spec.mean, spec.std, torch.device("cpu"))
        with torch.inference_mode():
            probabilities = self.model(x).softmax(1)[0]
        index = self.labels.index(label) if label is not None else int(probabilities.argmax())
        backbone = self.model.backbone
        # The library hooks the layer for the gradients: a `with` block removes its hooks afterwards,
        # and the forward pass must not run without gradients (it calls the model itself).
        with GradCAM(model=self.model, target_layers=[backbone.explain_layer],
                     reshape_transform=backbone.explain_reshape) as cam:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(index)])[0]
        overlay = show_cam_on_image(picture.astype(np.float32) / 255, heat, use_rgb=True)
        return Explanation(picture, heat.astype(np.float32), overlay, self.labels[index],
                           round(float(probabilities[index]), 5))


def side_by_side(explanation: Explanation) -> Image.Image:
    """The picture and its heat map next to each other, for a file."""
    return Image.fromarray(np.concatenate([explanation.picture, explanation.overlay], axis=1))

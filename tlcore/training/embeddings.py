"""Backbone embeddings computed once per (dataset, backbone, weights, image size) and kept on disk.

Feature extraction trains a head on these, so its epochs cost milliseconds instead of a full
forward pass of the backbone each time.
"""
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from tlcore.models.folding import fold_batchnorm
from tlcore.data.batches import inference_batch_size, to_model_input
from tlcore.training.loop import StopRequested, autocast_for


def embedding_key(*parts) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


@torch.inference_mode()
def compute_embeddings(backbone, images: np.ndarray, *, device: torch.device, batch_size: int | None = None,
                       on_progress=None, should_stop=lambda: False, transform=None,
                       rows: tuple[int, int] | None = None, fold: bool = True) -> np.ndarray:
    """Pooled features of a frozen backbone in eval mode (BatchNorm statistics untouched).

    The pass runs on a copy with BatchNorm folded into the convolutions (tlcore.folding): the same
    features, up to float rounding, in as little as half the time. A backbone folded already (the
    worker folds once for both splits) is used as it is.

    Args:
        images: uint8 [N, H, W, 3].
        batch_size: images per forward pass (default: tlcore.inputs.inference_batch_size).
        transform: (model input batch, index of its first picture) -> the batch to describe instead (a
            varied copy, a mirror image); None describes the pictures as they are.
        rows: (start, stop): describe only those pictures (this process's share when several train).
        fold: fold BatchNorm first; folding costs about a quarter of a second, which a few hundred pictures
            do not win back.
    Returns:
        float32 [N, feature_dim], or [stop - start, feature_dim] with rows.
    """
    backbone.eval()
    autocast, _ = autocast_for(device)
    spec = backbone.spec
    first, stop = rows if rows is not None else (0, len(images))
    out = np.empty((stop - first, spec.feature_dim), dtype=np.float32)
    batch_size = batch_size or inference_batch_size(images.shape[1], device)
    network = None
    for start in range(first, stop, batch_size):
        if should_stop():
            raise StopRequested()
        batch = torch.from_numpy(np.ascontiguousarray(images[start:min(start + batch_size, stop)]))
        x = to_model_input(batch, spec.mean, spec.std, device)
        if transform is not None:
            x = transform(x, start)
        if network is None:
            network = fold_batchnorm(backbone, x[:2]) if fold else backbone
        with autocast:
            features = network(x)
        out[start - first:start - first + len(batch)] = features.float().cpu().numpy()
        if on_progress:
            on_progress(min(start + batch_size, stop) - first, stop - first)
    return out


class EmbeddingCache:
    """float32 embedding arrays on disk, one file per key, written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root) / "embeddings"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    def get_or_compute(self, key: str, compute) -> tuple[np.ndarray, bool]:
        """Returns (embeddings, was_cached)."""
        values = self.get(key)
        if values is not None:
            return values, True
        values = compute()
        self.put(key, values)
        return values, False

    def get(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        if path.exists():
            try:
                return np.load(path)
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a damaged file is recomputed, not trusted
        return None

    def put(self, key: str, values: np.ndarray) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, values)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a full disk must not leave half a file behind
            raise

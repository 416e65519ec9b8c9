"""A map of what the network sees: the validation pictures' features projected to two dimensions
(PCA, or t-SNE from scikit-learn), coloured by class; for a run that adjusted its network, the map of
the network it started from beside the one it ended with.

Computed on demand and kept in the run folder (feature_map_<method>.npz), so a second look is instant.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from tlcore import paths
from tlcore.data.decoding import SamplePictures
from tlcore.data.imagecache import ImageCache
from tlcore.models.classifier import load_checkpoint
from tlcore.models.weights import create_backbone
from tlcore.runs.store.sources import SourceRun, check_source, load_source_body
from tlcore.training.embeddings import compute_embeddings
from tlcore.training.strategies import get_strategy
from tlcore.runs.store.folder import RunFolder

METHODS = ("pca", "tsne")


def project(features: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """[N, D] -> [N, 2]: PCA's two main directions, or t-SNE's neighbourhoods (perplexity fitted to N)."""
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    if method == "tsne":
        perplexity = max(2.0, min(30.0, (len(features) - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    raise ValueError(f"Unknown projection '{method}'; choose one of {', '.join(METHODS)}.")


def feature_map(run_dir: str | Path, method: str = "pca") -> dict:
    """The run's map: {"after": [N, 2], "before": [N, 2] or None, "labels", "predicted", "keys", "classes"}.

    "before" is the network the run started from (ImageNet's weights, or its source run's body), for runs
    that adjusted it; None where the network stayed as it was (the two maps would be the same) or started
    from random numbers. Raises OSError or ValueError when the run's files cannot be read.
    """
    run_dir = Path(run_dir)
    kept = RunFolder(run_dir).feature_map_path(method)
    if kept.is_file():
        with np.load(kept, allow_pickle=False) as saved:
            found = {name: saved[name] for name in saved.files}
        found["before"] = found["before"] if found["before"].size else None
        return found | {"classes": list(found.pop("classes"))}
    model, config, classes, _ = load_checkpoint(RunFolder(run_dir).model_path)
    manifest = RunFolder(run_dir).load_manifest()
    samples = manifest.split("val")
    pictures = SamplePictures(samples, ImageCache(paths.cache_dir()), config.image_size).array
    device = torch.device("cpu")
    after = compute_embeddings(model.backbone, pictures, device=device)
    with torch.inference_mode():
        predicted = model.head(torch.from_numpy(after)).argmax(1).numpy()
    before = None
    strategy = get_strategy(config.strategy)
    if strategy.trains_body and strategy.pretrained:
        start = create_backbone(config.backbone, pretrained=not config.init_from)
        if config.init_from:
            load_source_body(start, _source(config.init_from))
        before = project(compute_embeddings(start, pictures, device=device), method)
    found = {"after": project(after, method), "before": before, "labels": pictures_labels(samples),
             "predicted": predicted, "keys": np.array([s.key for s in samples]), "classes": list(classes)}
    np.savez(kept, **{**found, "before": before if before is not None else np.empty(0), "classes": np.array(classes)})
    return found


def pictures_labels(samples) -> np.ndarray:
    return np.fromiter((s.label for s in samples), dtype=np.int64, count=len(samples))


def _source(init_from: str) -> SourceRun:
    return check_source(init_from)  # the source may be gone: ConfigError, a ValueError, says so

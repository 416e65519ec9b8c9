"""onnxruntime-web for the exported web page: fetched once from the npm registry, pinned and checked.

The web page in an export runs the ONNX model in the browser with onnxruntime-web. Its files come
from the npm registry at setup (``./studio`` runs ``python -m tlcore vendor fetch``): ``npm pack``
of one pinned version, the tarball checked against the sha512 integrity the registry publishes for
it (``npm view onnxruntime-web@1.30.0 dist.integrity``), and only the three files the page needs
extracted, each checked again by sha256. They are kept in ``vendor/`` beside the code
(``TLSTUDIO_VENDOR_DIR`` moves it), not in the studio home, so every studio home and test shares
one copy. Without npm or the registry the export still works, without the web page, and says why.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tlcore import paths

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
# The wasm-only build as a classic script, its Emscripten loader, and the single wasm binary that
# 1.19+ ships (SIMD, thread-capable, and run with one thread so no cross-origin isolation is needed).
FILES = {
    "ort.wasm.min.js": "faece07e84faa9001f5104bbe4e5c70861d06cb2376a0dea1fa0ad33a67adc81",
    "ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    "ort-wasm-simd-threaded.wasm": "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
}
NPM_TIMEOUT_S = 300
VENDOR_ENV = "TLSTUDIO_VENDOR_DIR"


class VendorUnavailable(Exception):
    """onnxruntime-web is not here and cannot be had; the message says why, in words."""


@dataclass(frozen=True)
class WebRuntime:
    """The checked onnxruntime-web files, ready to copy into an export."""

    version: str
    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name


def vendor_root() -> Path:
    """Where vendored packages live: ``vendor/`` beside the code, or ``TLSTUDIO_VENDOR_DIR``."""
    configured = os.environ.get(VENDOR_ENV)
    return Path(configured).expanduser() if configured else paths.PROJECT_DIR / "vendor"


def find_web_runtime(root: Path | None = None) -> WebRuntime:
    """The fetched onnxruntime-web, every file checked against its pinned sha256.

    Raises:
        VendorUnavailable: not fetched yet, or a file is missing or altered.
    """
    folder = Path(root or vendor_root()) / f"{PACKAGE}-{VERSION}"
    if not folder.is_dir():
        raise VendorUnavailable(f"{PACKAGE} {VERSION} has not been fetched (./studio fetches it with npm "
                                f"during setup; or run: python -m tlcore vendor fetch)")
    for name, expected in FILES.items():
        if sha256_of(folder / name) != expected:
            raise VendorUnavailable(f"{PACKAGE} in {folder} is incomplete or altered ({name}); "
                                    f"fetch it again with: python -m tlcore vendor fetch")
    return WebRuntime(VERSION, folder)


def fetch_web_runtime(root: Path | None = None, npm: str | None = None) -> WebRuntime:
    """onnxruntime-web from the npm registry, checked; a few hash checks when it is already here.

    Raises:
        VendorUnavailable: no npm, no registry, or a download that does not match the pins.
    """
    root = Path(root or vendor_root())
    try:
        return find_web_runtime(root)
    except VendorUnavailable:
        pass
    npm = npm or shutil.which("npm")
    if not npm:
        raise VendorUnavailable(f"npm is not installed, so {PACKAGE} (which runs the model in a web page) "
                                f"could not be fetched")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as scratch:
        tarball = _npm_pack(npm, Path(scratch))
        staging = Path(scratch) / "files"
        _extract_checked(tarball, staging)
        final = root / f"{PACKAGE}-{VERSION}"
        if final.exists():  # an altered or partial copy: replaced whole
            shutil.rmtree(final)
        os.replace(staging, final)
    return find_web_runtime(root)


def sha256_of(path: Path) -> str | None:
    """Hex sha256 of a file, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def integrity_of(path: Path) -> str:
    """npm's integrity string (``sha512-`` and the base64 digest) of a tarball."""
    digest = hashlib.sha512()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _npm_pack(npm: str, folder: Path) -> Path:
    """``npm pack`` the pinned version into folder (npm's own cache makes a second time quick)."""
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false",
               npm_config_audit="false", npm_config_loglevel="error")
    try:
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(folder)],
                              cwd=folder, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VendorUnavailable(f"npm did not fetch {PACKAGE} {VERSION} within {NPM_TIMEOUT_S} s "
                                f"(is the npm registry reachable?)") from None
    except OSError as error:
        raise VendorUnavailable(f"npm could not be started ({error.strerror or error})") from None
    tarball = folder / f"{PACKAGE}-{VERSION}.tgz"
    if done.returncode != 0 or not tarball.is_file():
        said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = said[0] if said else f"exit code {done.returncode}"
        raise VendorUnavailable(f"npm could not fetch {PACKAGE} {VERSION} ({reason}); without it the "
                                f"exported model has no web page")
    found = integrity_of(tarball)
    if found != INTEGRITY:
        raise VendorUnavailable(f"the downloaded {PACKAGE} {VERSION} does not match its pinned checksum "
                                f"(got {found[:24]}…); it was not used")
    return tarball


def _extract_checked(tarball: Path, staging: Path) -> None:
    """Only the pinned files, by exact name, each checked by sha256: nothing else leaves the tarball."""
    staging.mkdir()
    with tarfile.open(tarball, "r:gz") as archive:
        for name, expected in FILES.items():
            try:
                member = archive.getmember(f"package/dist/{name}")
            except KeyError:
                raise VendorUnavailable(f"{PACKAGE} {VERSION} has no dist/{name}") from None
            source = archive.extractfile(member) if member.isfile() else None
            if source is None:
                raise VendorUnavailable(f"{PACKAGE} {VERSION}: dist/{name} is not a regular file")
            with source, open(staging / name, "wb") as target:
                shutil.copyfileobj(source, target)
            if sha256_of(staging / name) != expected:
                raise VendorUnavailable(f"{PACKAGE} {VERSION}: dist/{name} does not match its pinned sha256")

"""Where the studio keeps its files: one home folder for data, caches and runs.

The CLI and the app share it. ``TLSTUDIO_HOME`` moves it (tests point it at a temporary folder).
"""
import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The folder that holds the engine package: where `python -m tlcore` finds it, and vendor/ lives."""


def studio_home() -> Path:
    """The studio's home folder, created on first use."""
    home = _home_path()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _home_path() -> Path:
    return Path(os.environ.get("TLSTUDIO_HOME", "~/.tlstudio")).expanduser()


def _subdir(name: str) -> Path:
    path = studio_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Uploaded and extracted datasets."""
    return _subdir("data")


def cache_dir() -> Path:
    """Decoded images and embeddings, keyed by content."""
    return _subdir("cache")


def runs_dir() -> Path:
    """One folder per training run."""
    return _subdir("runs")


ALLOWED_ROOTS_ENV = "TLSTUDIO_ALLOWED_ROOTS"


def allowed_roots() -> list[Path]:
    """The folders the studio may read pictures from beyond a dataset's own: TLSTUDIO_ALLOWED_ROOTS
    (os.pathsep-separated) when set, else the person's home and the studio's data folder. The pages
    narrow this further on a network or a class server (ui.dataset.allowed_roots)."""
    configured = os.environ.get(ALLOWED_ROOTS_ENV)
    if configured is not None:
        return [Path(p).expanduser().resolve() for p in configured.split(os.pathsep) if p.strip()]
    return [Path.home().resolve(), (_home_path() / "data").resolve()]  # named, not made: reading needs no folder

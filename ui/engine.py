"""The engine's import, in the background: torch and the engine take seconds to import, and the first
page need not wait for them. No Streamlit here: the page helpers ask engine_ready() before they use
what only the engine knows (the device, the registries' words)."""
import gc
import importlib
import sys
import threading

ENGINE_MODULES = ("torch", "tlcore.runs.supervision.runner", "tlcore.device", "tlcore.training.strategies",
                  "tlcore.models.backbones", "tlcore.report.estimate")
# The import starts this long after the first page asks for it: the page's own script run, and its
# modules' imports, then do not share the interpreter's lock with torch's import.
PRELOAD_DELAY_S = 1.0
_preloaded = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def preload_engine() -> None:
    """Import the engine in a background thread, once per server process."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Timer(PRELOAD_DELAY_S, _import_engine)
            _thread.name, _thread.daemon = "tlcore-preload", True
            _thread.start()


def _import_engine() -> None:
    try:
        for name in ENGINE_MODULES:
            importlib.import_module(name)
        # The modules' objects live as long as the server: out of the collector's sight, its full
        # collections no longer walk them (a quarter of a million objects, 0.16 s each time).
        gc.freeze()
    finally:
        _preloaded.set()  # a failed import is met again, and said, by the page that needs the module


def engine_ready() -> bool:
    """Whether the engine is in: preloaded, or torch fully imported by someone (a page, a test), after
    which the rest imports in a moment. A module still being imported does not count: using it would
    wait for its import."""
    return _preloaded.is_set() or _fully_imported("torch")


def _fully_imported(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)

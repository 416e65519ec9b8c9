"""The engine's packages are layers: imports run one way, from the top of LAYERS down, never back.

Every import counts, those inside functions too: a late import that runs upwards is the same
tangle, only hidden until the day it runs.
"""
import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "tlcore"

# Bottom first. A module may import from its own package and from any layer below it; packages on
# the same rank do not import each other. Modules directly in tlcore/ are the shared root.
LAYERS = {"(root)": 0, "people": 1, "data": 2, "models": 3, "training": 4, "runs": 5, "serve": 6, "report": 6,
          "classroom": 7, "cli": 8, "__main__": 9}


def module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "(root)"  # tlcore itself
    if parts[1] == "__main__":
        return "__main__"
    return parts[1] if (ENGINE / parts[1]).is_dir() else "(root)"


def engine_imports(source: str, module: str, is_package: bool) -> set[str]:
    """The tlcore modules a module's source imports, wherever the import statement stands."""
    found = set()
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("tlcore"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            if not origin.startswith("tlcore"):
                continue
            for alias in node.names:  # `from tlcore.data import scan` imports the module tlcore.data.scan
                candidate = f"{origin}.{alias.name}"
                found.add(candidate if _exists(candidate) else origin)
    return {name for name in found if name != module}


def _exists(module: str) -> bool:
    path = ENGINE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(ENGINE.rglob("*.py")):
        if "export_files" in path.parts:  # files copied into exports, not part of the engine
            continue
        name = module_name(path)
        graph[name] = engine_imports(path.read_text(), name, path.name == "__init__.py")
    return graph


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        mine = layer_of(module)
        for other in sorted(imported):
            theirs = layer_of(other)
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{module} ({mine}) imports {other} ({theirs})")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between modules, each as the path that closes it."""
    found, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            if other not in graph or other == module.rsplit(".", 1)[0]:
                continue  # a package's __init__ re-exporting its modules is not a cycle of theirs
            if state.get(other) == "open":
                found.append([*trail[trail.index(other):], other])
            elif other not in state:
                visit(other, [*trail, other])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [module])
    return found


# Inside tlcore.runs, its rooms are layers too: the store at the bottom; execution and experiments above
# it, apart from each other; supervision on top (it launches the worker). The package's own __init__
# re-exports the store's API and belongs to the store.
RUNS_ROOMS = {"store": 0, "execution": 1, "experiments": 1, "supervision": 2}


def room_of(module: str) -> str | None:
    """The room of tlcore.runs a module belongs to; None outside tlcore.runs."""
    parts = module.split(".")
    if parts[:2] != ["tlcore", "runs"]:
        return None
    return parts[2] if len(parts) > 2 else "store"


def backward_room_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        mine = room_of(module)
        if mine is None:
            continue
        for other in sorted(imported):
            theirs = room_of(other)
            if theirs is not None and theirs != mine and RUNS_ROOMS[theirs] >= RUNS_ROOMS[mine]:
                wrong.append(f"{module} ({mine}) imports {other} ({theirs})")
    return wrong


def test_every_runs_module_lives_in_a_room():
    loose = [m for m in import_graph() if room_of(m) not in (None, *RUNS_ROOMS)]
    assert loose == []
    assert all((ENGINE / "runs" / room / "__init__.py").is_file() for room in RUNS_ROOMS)


def test_imports_run_one_way_between_the_rooms_of_runs():
    assert backward_room_imports(import_graph()) == []


@pytest.mark.parametrize("source, module, expected", [
    ("from tlcore.runs.supervision.runner import Runner", "tlcore.runs.execution.worker",
     ["tlcore.runs.execution.worker (execution) imports tlcore.runs.supervision.runner (supervision)"]),
    ("from tlcore.runs.experiments.grid import Arm", "tlcore.runs.execution.worker",
     ["tlcore.runs.execution.worker (execution) imports tlcore.runs.experiments.grid (experiments)"]),
    ("from tlcore.runs.execution.worker import execute_run", "tlcore.runs.store.listing",
     ["tlcore.runs.store.listing (store) imports tlcore.runs.execution.worker (execution)"]),
    ("from tlcore.runs.store.folder import RunFolder", "tlcore.runs.supervision.runner", []),
])
def test_the_room_check_sees_an_import_the_wrong_way(source, module, expected):
    assert backward_room_imports({module: engine_imports(source, module, False)}) == expected


def test_every_engine_module_belongs_to_a_known_layer():
    assert {layer_of(module) for module in import_graph()} <= set(LAYERS)


def test_imports_run_one_way_down_the_layers():
    assert backward_imports(import_graph()) == []


def test_no_import_cycles_inside_the_engine():
    assert cycles(import_graph()) == []


def test_the_engine_never_imports_streamlit():
    users = [path.name for path in ENGINE.rglob("*.py") if "streamlit" in
             {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
              if isinstance(node, (ast.Import, ast.ImportFrom))
              for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}]
    assert users == []


@pytest.mark.parametrize("source, module, expected", [
    ("from tlcore.runs import store", "tlcore.models.classifier", ["tlcore.models.classifier (models) imports "
                                                                    "tlcore.runs.store (runs)"]),
    ("def late():\n    from ..serve.export import export_run", "tlcore.report.estimate",
     ["tlcore.report.estimate (report) imports tlcore.serve.export (serve)"]),
    ("from tlcore.training import loop", "tlcore.jsonio", ["tlcore.jsonio ((root)) imports tlcore.training.loop (training)"]),
    ("from tlcore.data.batches import ArrayBatches\nfrom tlcore import paths", "tlcore.training.loop", []),
])
def test_the_check_sees_a_backward_import_wherever_it_stands(source, module, expected):
    assert backward_imports({module: engine_imports(source, module, False)}) == expected


def test_the_check_sees_a_cycle():
    graph = {"tlcore.models.a": {"tlcore.models.b"}, "tlcore.models.b": {"tlcore.models.a"}}
    assert cycles(graph) == [["tlcore.models.a", "tlcore.models.b", "tlcore.models.a"]]


def top_level_imports(path: Path) -> set[str]:
    """The first names of the modules a file imports, wherever the import stands."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names


@pytest.mark.parametrize("folder, above", [("ui", {"app", "app_pages"}), ("app_pages", {"app"})])
def test_the_apps_helpers_never_import_the_pages_or_the_frame(folder, above):
    """app.py over app_pages/ over ui/ over the engine: a helper that reached up would run a page's code."""
    root = ENGINE.parent / folder
    wrong = sorted(f"{path.relative_to(root.parent)} imports {name}" for path in root.rglob("*.py")
                   for name in top_level_imports(path) & above)
    assert wrong == []

"""The architecture, held: layers that only point down and no import cycles, counting imports
inside functions (an AST scan). docs/architecture.md explains the layers.

Usage: python -m pytest tests/test_architecture.py -q
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sketchcolor"

FOUNDATION = {"package", "errors", "util"}
LOWER = {  # layer: the layers it may import besides its own (docs/architecture.md)
    "package": set(),
    "errors": set(),
    "util": {"errors"},
    "config": {"errors", "util"},
    "data": {"errors", "util", "config"},
    "models": {"errors", "util", "config"},
    "runs": FOUNDATION | {"config", "data", "models"},
    "training": FOUNDATION | {"config", "data", "models", "runs"},
    "inference": FOUNDATION | {"config", "data", "models", "runs"},
    "evaluation": FOUNDATION | {"config", "data", "models", "runs", "training", "inference"},
    "export": FOUNDATION | {"config", "data", "models", "runs", "inference"},
    "serve": FOUNDATION | {"config", "data", "models", "runs", "inference"},
    "quickstart": FOUNDATION
    | {"config", "data", "models", "runs", "training", "inference", "evaluation"},
    # The command line: it parses and calls the library; `sketchcolor serve` starts the app.
    "cli": FOUNDATION
    | {"config", "data", "models", "runs", "training", "inference", "evaluation", "export"}
    | {"serve", "quickstart"},
    # Entry points: `python -m sketchcolor` and `python -m sketchcolor.train` (torchrun).
    "__main__": {"cli"},
    "train": {"cli", "training"},
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """sketchcolor.data.loading.loader -> "data"; sketchcolor -> "package"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points up or sideways, named: "a imports b (data may not import training)"."""
    found = []
    for name, targets in sorted(graph.items()):
        layer = layer_of(name)
        allowed = LOWER.get(layer)
        if allowed is None:
            found.append(f"{name}: in no layer; add its layer to LOWER and docs/architecture.md")
            continue
        for target in sorted(targets):
            if layer_of(target) not in allowed | {layer}:
                found.append(f"{name} imports {target} ({layer} may not import {layer_of(target)})")
    return found


def imported_modules(path: Path, known: set[str], package_root: Path = PACKAGE) -> set[str]:
    """Every sketchcolor module `path` imports anywhere in its body (`from a import b` counts
    a.b when b is a module, else a)."""
    found = set()
    own = module_name(path, package_root)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {name for name in found if name in known}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    paths = sorted(package.rglob("*.py"))
    known = {module_name(path, package) for path in paths}
    graph = {}
    for path in paths:
        name = module_name(path, package)
        graph[name] = imported_modules(path, known, package) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[name] = 2
        path.pop()
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_the_scan_sees_imports_inside_functions():
    graph = import_graph()
    assert "sketchcolor.training.loop" in graph["sketchcolor.cli.train"]  # imported inside run()
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_layers_only_point_down():
    violations = layer_violations(import_graph())
    assert not violations, "\n".join(violations)


def test_every_module_is_in_a_layer():
    layers = {layer_of(name) for name in import_graph()}
    assert layers <= set(LOWER), layers - set(LOWER)
    assert {"data", "models", "training", "inference", "serve", "cli"} <= layers


def test_a_planted_upward_import_is_named(tmp_path):
    package = tmp_path / "sketchcolor"
    for folder in ("data", "training", "serve", "inference"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "training" / "loop.py").write_text("def run():\n    pass\n")
    (package / "serve" / "app.py").write_text("")
    # Inside a function, as lazy imports are written here: the scan must still see it.
    (package / "data" / "regions.py").write_text(
        "def spread():\n    from sketchcolor.training.loop import run\n    return run\n"
    )
    (package / "inference" / "colorize.py").write_text("from sketchcolor.serve import app\n")
    violations = layer_violations(import_graph(package))
    assert violations == [
        "sketchcolor.data.regions imports sketchcolor.training.loop (data may not import training)",
        "sketchcolor.inference.colorize imports sketchcolor.serve.app "
        "(inference may not import serve)",
    ]


def test_the_real_tree_passes_and_the_table_is_not_empty():
    graph = import_graph()
    assert len(graph) > 80  # the scan found the package
    assert sum(len(targets) for targets in graph.values()) > 200
    assert "sketchcolor.data.loading.loader" in graph["sketchcolor.training.loop"]


LONGEST_FUNCTION = 60
"""Lines a function may span, its decorators not counted (issue 32: a function fits on a screen)."""
TRAINING_LOOP = "sketchcolor.training.loop:run_loop"
LONG_FUNCTIONS_ALLOWED: set[str] = set()
"""Functions allowed past LONGEST_FUNCTION, as "module:function". Only the training loop
(TRAINING_LOOP) may ever be listed, and only while it reads top to bottom; it fits today."""


def function_lengths(source: str, module: str) -> list[tuple[str, int]]:
    """("module:function", lines) for every function in `source`, methods and nested ones
    included; a decorated function counts from its `def` line (Python's lineno)."""
    return [
        (f"{module}:{node.name}", node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def long_functions(lengths: list[tuple[str, int]], allowed: set[str] = frozenset()) -> list[str]:
    """The functions over LONGEST_FUNCTION lines and not allowed: "module:function (N lines)"."""
    return [
        f"{name} ({lines} lines)"
        for name, lines in lengths
        if lines > LONGEST_FUNCTION and name not in allowed
    ]


def test_the_length_check_names_a_planted_61_line_function():
    def planted(lines: int) -> str:  # a decorated function of `lines` lines, def included
        body = "".join(f"    step_{index} = {index}\n" for index in range(lines - 1))
        return f"@decorated\ndef planted():\n{body}"

    assert function_lengths(planted(61), "module") == [("module:planted", 61)]
    assert long_functions(function_lengths(planted(61), "module")) == ["module:planted (61 lines)"]
    assert long_functions(function_lengths(planted(60), "module")) == []
    method = "class Holder:\n" + textwrap.indent(planted(61), "    ")
    assert long_functions(function_lengths(method, "module")) == ["module:planted (61 lines)"]


def test_no_function_is_longer_than_a_screen():
    assert LONG_FUNCTIONS_ALLOWED.issubset({TRAINING_LOOP})
    lengths = [
        length
        for path in sorted(PACKAGE.rglob("*.py"))
        for length in function_lengths(path.read_text(), module_name(path))
    ]
    assert len(lengths) > 500  # the scan found the package's functions
    too_long = long_functions(lengths, LONG_FUNCTIONS_ALLOWED)
    assert not too_long, (
        f"functions over {LONGEST_FUNCTION} lines; split them into steps:\n" + "\n".join(too_long)
    )

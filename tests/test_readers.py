"""One reader per file kind (issue 32): no function of the package opens a run's config.json,
train_config.json, progress.json or generator weights, or a shard folder's manifest.json,
except the one reader of that kind (an AST scan, like tests/test_architecture.py's).

A function is counted as opening a file kind when one of its reads (open, read_text,
read_bytes, json.load(s), safetensors' load_file, file_sha256) names the file: its name as a
string or the constant that holds it (CONFIG_FILE, MANIFEST_FILE, ...), there or in what a
variable it reads from was assigned in the same function.

Usage: python -m pytest tests/test_readers.py -q
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sketchcolor"

FILE_NAMES = {  # the name as written, and the constants that hold it
    "config.json": {"CONFIG_FILE"},
    "train_config.json": {"TRAIN_CONFIG_FILE"},
    "progress.json": {"CHECKPOINT_PROGRESS_FILE", "PROGRESS_FILE"},
    "generator.safetensors": {"WEIGHTS_FILE"},
    "manifest.json": {"MANIFEST_FILE"},
}
READERS = {  # module:function -> the file it is the one reader of
    "models/saving.py:read_generator_config": "config.json",
    "models/saving.py:load_generator": "generator.safetensors",
    "runs.py:weights_sha256": "generator.safetensors",
    "data/shards/manifest_format.py:read_manifest_file": "manifest.json",
    "data/shards/manifest_format.py:manifest_sha256": "manifest.json",
}
# train_config.json is read by TrainConfig.load (config/files.py, which takes any path) and
# progress.json by runs.TrainingProgress.from_file: neither names its file, so neither is listed.
READ_ATTRIBUTES = {"read_text", "read_bytes", "open", "load_file", "file_sha256"}


def is_read(node: ast.AST) -> bool:
    """open(...), x.read_text(), json.loads(...), safetensors' load_file(...), ..."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in {"open", "load_file", "file_sha256"}
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in READ_ATTRIBUTES:
        return True
    return func.attr in {"load", "loads"} and getattr(func.value, "id", None) == "json"


def named_file(node: ast.AST) -> str | None:
    """The file kind `node` names: its name as a whole string or path tail, or its constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        for name in FILE_NAMES:
            if node.value == name or node.value.endswith("/" + name):
                return name
    identifier = getattr(node, "id", None) or getattr(node, "attr", None)
    for name, constants in FILE_NAMES.items():
        if identifier in constants:
            return name
    return None


def own_nodes(scope: ast.AST):
    """The nodes of a function (or module) body, not those of the functions defined inside."""
    for child in ast.iter_child_nodes(scope):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield child
        yield from own_nodes(child)


def assigned_values(nodes: list[ast.AST]) -> dict[str, list[ast.AST]]:
    """name -> the expressions assigned to it (`a, b = x, y` pairs them up)."""
    values: dict[str, list[ast.AST]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign):
            pairs = []
            for target in node.targets:
                both = isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                if both and len(target.elts) == len(node.value.elts):
                    pairs += zip(target.elts, node.value.elts, strict=True)
                else:
                    pairs.append((target, node.value))
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            pairs = [(node.target, node.value)]
        else:
            continue
        for target, value in pairs:
            if isinstance(target, ast.Name):
                values.setdefault(target.id, []).append(value)
    return values


def kinds_named(expression: ast.AST, values: dict, seen: frozenset = frozenset()) -> set[str]:
    """The file kinds `expression` names, following the variables it uses to their values."""
    kinds = set()
    for node in ast.walk(expression):
        if kind := named_file(node):
            kinds.add(kind)
        if isinstance(node, ast.Name) and node.id in values and node.id not in seen:
            for value in values[node.id]:
                kinds |= kinds_named(value, values, seen | {node.id})
    return kinds


def file_openers(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module:function -> the file kinds it opens (module level as module:<module>)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        module = path.relative_to(package).as_posix()
        scopes = [("<module>", tree)] + [
            (node.name, node)
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        for name, scope in scopes:
            nodes = list(own_nodes(scope))
            values = assigned_values(nodes)
            for node in nodes:
                if is_read(node) and (kinds := kinds_named(node, values)):
                    found.setdefault(f"{module}:{name}", set()).update(kinds)
    return found


def foreign_openers(package: Path = PACKAGE) -> list[str]:
    """Every function that opens a file kind it is not the reader of, named."""
    return [
        f"{where} opens {kind}"
        for where, kinds in sorted(file_openers(package).items())
        for kind in sorted(kinds)
        if READERS.get(where) != kind
    ]


def test_each_file_kind_is_opened_by_its_reader_alone():
    problems = foreign_openers()
    assert not problems, "\n".join(problems)


def test_the_readers_are_where_the_table_says():
    found = file_openers()
    for where, kind in READERS.items():
        assert kind in found.get(where, set()), f"{where} no longer reads {kind}: update READERS"


def test_a_planted_second_reader_is_named(tmp_path):
    package = tmp_path / "sketchcolor"
    (package / "serve").mkdir(parents=True)
    (package / "serve" / "app.py").write_text(
        "import json\n"
        "SIZE = 512\n\n"
        "def run_size(run):\n"
        '    """The size from config.json."""\n'
        '    return json.loads((run / "config.json").read_text())["image_size"]\n\n'
        "def has_manifest(folder):\n"
        '    return (folder / "manifest.json").is_file()  # looking is not reading\n'
    )
    (package / "evaluation").mkdir()
    (package / "evaluation" / "card.py").write_text(
        "from sketchcolor.runs import CHECKPOINT_PROGRESS_FILE\n\n"
        "def seen(folder):\n"
        "    with open(folder / CHECKPOINT_PROGRESS_FILE) as file:\n"
        "        return file.read()\n"
    )
    assert foreign_openers(package) == [
        "evaluation/card.py:seen opens progress.json",
        "serve/app.py:run_size opens config.json",
    ]

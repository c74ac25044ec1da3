"""The test suite's own rules, held: a loop that asserts over a collection first asserts the
collection is not empty (else the test passes on nothing), and no test reaches a benchmark
script through sys.path (benchmarks/ is a package: `from benchmarks import scaling`).

Usage: python -m pytest tests/test_hygiene.py -q
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Calls whose result is as literal as their arguments (range(3), zip(A, B) of constants, ...).
LITERAL_CALLS = {"range", "zip", "enumerate", "sorted", "list", "tuple", "reversed"}
WRAPPERS = LITERAL_CALLS | {"len"}


def is_literal(node: ast.AST) -> bool:
    """A value the test wrote itself (a list, a constant, an UPPER_CASE module constant)."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Constant)):
        return True
    if isinstance(node, ast.Name):
        return node.id.isupper()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "range":  # a count of the test's own (ranks, steps)
            return True
        return node.func.id in LITERAL_CALLS and all(is_literal(arg) for arg in node.args)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("items", "keys", "values") and is_literal(node.func.value)
    return False


def asserts(node: ast.AST) -> bool:
    """An assert statement or an assert* call (torch.testing.assert_close, ...) inside."""
    for child in ast.walk(node):
        if isinstance(child, ast.Assert):
            return True
        if isinstance(child, ast.Call):
            func = child.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("assert"):
                return True
    return False


def names(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def unguarded_loops(source: str) -> list[str]:
    """Test functions with a loop of asserts over data no earlier assert checked: "name:line"."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not (isinstance(function, ast.FunctionDef) and function.name.startswith("test_")):
            continue
        checked: set[str] = set()
        for statement in function.body:
            if isinstance(statement, ast.Assign) and is_literal(statement.value):
                checked |= {
                    target.id for target in statement.targets if isinstance(target, ast.Name)
                }
            if isinstance(statement, ast.Assert):
                checked |= names(statement.test)
            if isinstance(statement, ast.For) and asserts(statement):
                looped = names(statement.iter) - WRAPPERS
                if not is_literal(statement.iter) and not looped & checked:
                    found.append(f"{function.name}:{statement.lineno}")
    return found


def test_the_check_finds_a_loop_that_would_pass_on_nothing():
    bad = "def test_a(items):\n    for item in items:\n        assert item > 0\n"
    good = "def test_a(items):\n    assert items\n    for item in items:\n        assert item > 0\n"
    literal = "def test_a():\n    for item in [1, 2]:\n        assert item > 0\n"
    assert unguarded_loops(bad) == ["test_a:2"]
    assert unguarded_loops(good) == [] and unguarded_loops(literal) == []


def test_every_loop_of_asserts_first_asserts_its_data():
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 40
    found = [f"{path.relative_to(TESTS)}:{where}" for path in files
             for where in unguarded_loops(path.read_text())]  # fmt: skip
    assert not found, "assert the collection is not empty before looping: " + ", ".join(found)


def test_no_test_puts_benchmarks_on_sys_path():
    offenders = [path.name for path in TESTS.rglob("*.py")
                 if "sys.path.insert" in path.read_text() and path.name != "test_hygiene.py"]  # fmt: skip
    assert not offenders, offenders

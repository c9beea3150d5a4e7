"""The code stays ruff-clean, formatted and type-checks, and its functions and modules stay
small enough to read: CI holds every change to it."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent

MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600  # the test doubles under bot/sandbox/ may be larger

# Offenders allowed for a while (none today). The list can only shrink: an
# entry that no longer exceeds its limit fails the test until it is removed from here.
# Keys are "path" (a module) or "path:qualified.name" (a function or method).
TOO_LONG_TODAY: dict[str, str] = {}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff() -> None:
    done = _run("ruff", "check", ".")  # rules, complexity (C901) included: [tool.ruff]
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    done = _run("ruff", "format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = _run("mypy")  # files and options (strict): [tool.mypy] in pyproject.toml
    assert done.returncode == 0, done.stdout + done.stderr


def _product_modules() -> Iterator[Path]:
    """app.py, bot/ but its test doubles (bot/sandbox/), handlers/."""
    yield ROOT / "app.py"
    for package in ("bot", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "sandbox" not in path.relative_to(ROOT).parts:
                yield path


def _functions(
    node: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method under ``node``, nested ones too, by qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def _sizes() -> dict[str, tuple[int, int]]:
    """``path`` and ``path:function`` -> (lines, limit), for the product."""
    sizes: dict[str, tuple[int, int]] = {}
    for path in _product_modules():
        source = path.read_text()
        name = path.relative_to(ROOT).as_posix()
        sizes[name] = (len(source.splitlines()), MAX_MODULE_LINES)
        for qualified, function in _functions(ast.parse(source, filename=name)):
            lines = (function.end_lineno or function.lineno) - function.lineno + 1
            sizes[f"{name}:{qualified}"] = (lines, MAX_FUNCTION_LINES)
    return sizes


def test_no_product_function_or_module_over_its_limit() -> None:
    sizes = _sizes()
    over = {key: lines for key, (lines, limit) in sizes.items() if lines > limit}
    new = sorted(
        f"{key} ({lines} lines)" for key, lines in over.items() if key not in TOO_LONG_TODAY
    )
    assert not new, (
        f"over {MAX_FUNCTION_LINES} lines a function or {MAX_MODULE_LINES} a module: "
        + ", ".join(new)
    )


def test_the_allow_list_only_shrinks() -> None:
    sizes = _sizes()
    fixed = sorted(
        key for key in TOO_LONG_TODAY if key not in sizes or sizes[key][0] <= sizes[key][1]
    )
    assert not fixed, "now within the limit (or gone): remove from TOO_LONG_TODAY: " + ", ".join(
        fixed
    )


def test_the_size_check_sees_long_functions_and_methods() -> None:
    """The walk finds methods and nested functions with their lengths (so the checks above
    can fail)."""
    body = "\n".join(f"    x{i} = {i}" for i in range(90))
    source = f"class A:\n    def m(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n"
    source += (
        f"def f():\n    def g():\n    {body.replace(chr(10), chr(10) + '    ')}\n    return g\n"
    )
    found = {name: (f.end_lineno or 0) - f.lineno + 1 for name, f in _functions(ast.parse(source))}
    assert found == {"A.m": 91, "f": 93, "f.g": 91}

"""src/loopengine/_core.pyi is what editors and type checkers see of the C++ module: it must name
exactly what the compiled module exports, with the same parameters and defaults."""
from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

from loopengine import _core

STUB = Path(__file__).resolve().parents[1] / "src" / "loopengine" / "_core.pyi"


def _stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _stub_names() -> set[str]:
    names = set()
    for node in _stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def _parameters(fn: ast.FunctionDef) -> list[tuple[str, object]]:
    """[(name, default)] with default None for a parameter without one (no _core default is None)."""
    args = fn.args.args
    defaults = [None] * (len(args) - len(fn.args.defaults)) + [ast.literal_eval(d) for d in fn.args.defaults]
    return [(a.arg, d) for a, d in zip(args, defaults)]


def _compiled_signature(name: str) -> ast.FunctionDef:
    """pybind11 puts 'name(arg: type = default, ...) -> type' on the docstring's first line; it is
    valid Python, so it parses into the same shape as the stub's def."""
    first_line = getattr(_core, name).__doc__.strip().splitlines()[0]
    return ast.parse(f"def {first_line}: ...").body[0]


def _public_exports() -> set[str]:
    return {n for n in dir(_core) if not n.startswith("_")}


def test_stub_names_exactly_the_compiled_exports():
    exported, stubbed = _public_exports(), _stub_names()
    assert exported - stubbed == set(), "exported by _core but missing from _core.pyi"
    assert stubbed - exported == set(), "in _core.pyi but not exported by _core"


@pytest.mark.parametrize("name", sorted(n for n in _public_exports() if callable(getattr(_core, n))))
def test_stub_function_has_the_compiled_parameters_and_defaults(name):
    stub = next((n for n in _stub_tree().body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    assert stub is not None, f"{name} is not a def in _core.pyi"
    assert _parameters(stub) == _parameters(_compiled_signature(name))


def test_stub_modules_are_modules():
    for node in _stub_tree().body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            assert isinstance(getattr(_core, node.target.id), types.ModuleType), node.target.id

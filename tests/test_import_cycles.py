"""No import cycles among loopengine's modules: the arrows of docs/architecture.md point one way.

The graph is read from the source with `ast`, not by importing, so it sees every import
statement, including those that have not run yet. An edge A -> B means A's source has
`import B`, `from B import name` or `from B.module import name` (relative imports resolved);
importing B also runs B's parent packages' `__init__`, so those count too, except A's own parent
packages (they have already started by the time A runs, so A importing them closes no loop).
Imports by a string (`importlib.import_module`, the built-in problem registry) are not seen.

Two graphs are checked:
- module level (what runs when the module is imported; `if TYPE_CHECKING:` blocks excluded):
  a cycle here is a "partially initialized module" ImportError waiting for an import order;
- everything (imports inside functions and `TYPE_CHECKING` blocks too): a function-level import
  is how a cycle gets hidden rather than removed; if A needs B and B needs A, the shared piece
  belongs in a third module below both. Today neither graph has a cycle, so both stay at zero.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, tuple[Path, bool]]:
    """dotted name -> (file, is a package), every .py under src/loopengine plus the compiled _core."""
    mods = {}
    for path in sorted((SRC / "loopengine").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    mods["loopengine._core"] = (SRC / "loopengine" / "_core.pyi", False)
    return mods


MODULES = _modules()


def _targets(importer: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The loopengine modules one import statement names (a name imported from a package that is
    not itself a module counts as the package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "loopengine"]
    base = node.module or ""
    if node.level:  # relative: from the importer's package, one level up per extra dot
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    if base.split(".")[0] != "loopengine":
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _module_level(tree: ast.Module):
    """Statements that run at import: everything outside function bodies and TYPE_CHECKING blocks."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def import_graph(*, function_level: bool) -> dict[str, set[str]]:
    graph = {name: set() for name in MODULES}
    for importer, (path, is_package) in MODULES.items():
        if path.suffix == ".pyi":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        statements = ast.walk(tree) if function_level else _module_level(tree)
        own_packages = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 2)}
        for node in statements:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(importer, is_package, node):
                assert target in MODULES, f"{path} imports {target}, which is not a loopengine module"
                parts = target.split(".")
                packages = {".".join(parts[:i]) for i in range(1, len(parts))}
                graph[importer] |= ({target} | packages) - own_packages
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, iterative)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


@pytest.mark.parametrize("function_level", [False, True], ids=["module-level", "with-function-level"])
def test_no_import_cycles(function_level):
    graph = import_graph(function_level=function_level)
    # the graph is read, not empty: the task-file-to-loop chain is in it
    assert "loopengine.loop" in graph["loopengine.session"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None

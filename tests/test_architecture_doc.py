"""docs/architecture.md's module table names every module under src/loopengine, and nothing else.

The table's granularity: a row per top-level module (`cli.py`), and a row per directory
(`learn/`, `problems/lyapunov/`) that names each of its modules in backticks (`model.py`).
An `__init__.py` must be named only where it holds code (not just a docstring)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "loopengine"
DOC = ROOT / "docs" / "architecture.md"


def module_table() -> dict[str, str]:
    """First cell (without backticks) -> the whole row, for the table under '## Modules'."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def _holds_code(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return bool(body)


def modules_to_name() -> list[tuple[str, str]]:
    """(row, file name): each .py under src/loopengine, with the row that must name it."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and not _holds_code(path):
            continue
        folder = path.parent.relative_to(PACKAGE).as_posix()
        out.append((path.name if folder == "." else folder + "/", path.name))
    return out


def test_the_table_is_read():
    rows = module_table()
    assert "cli.py" in rows
    assert "learn/" in rows


def test_every_module_is_in_the_table():
    rows = module_table()
    missing = [f"{row}{name}" if row.endswith("/") else name for row, name in modules_to_name()
               if row not in rows or (row.endswith("/") and f"`{name}`" not in rows[row])]
    assert missing == [], "add these to the module table in docs/architecture.md"


def test_the_table_names_nothing_that_is_gone():
    stale = []
    for row, text in module_table().items():
        if row == "_core":
            if not (PACKAGE / "_core.pyi").is_file():
                stale.append(row)
        elif row.endswith("/"):
            folder = PACKAGE / row
            if not folder.is_dir():
                stale.append(row)
            for name in re.findall(r"`([\w]+\.py)`", text):
                if not (folder / name).is_file():
                    stale.append(row + name)
        elif not (PACKAGE / row).is_file():
            stale.append(row)
    assert stale == [], "docs/architecture.md names modules that do not exist"

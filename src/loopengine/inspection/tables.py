"""Tables that never cut a formula or an object.

A table whose cells fit the terminal is drawn as a table (cells that still need it fold, never
end in an ellipsis). One that does not fit turns into one record per row: the short cells on
the row's first line, each long cell (a V, a system, a graph) whole on a line of its own,
written without hard line breaks so it can be copied as it is (the terminal folds it).
Problems describe their tables as data (summary.json's "table"):

    {"title": ..., "columns": [...], "rows": [[...], ...],
     "short": {"long status word": "short", ...},   # optional: shown instead, with a legend
     "legend": "GAS = ...",                           # optional: printed under the table
     "full_text": "certificates/ (...)"}              # optional: where every cell is in full
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

GAP = 2          # columns between cells
SHORT_CELL = 16  # a column whose cells are at most this wide goes on a record's first line


def cells(spec: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows as text, with the spec's short words applied."""
    short = spec.get("short") or {}
    columns = [str(c) for c in spec.get("columns", [])]
    rows = [[str(short.get(str(v), v)) for v in row] for row in spec.get("rows", [])]
    return columns, rows


def natural_width(columns: list[str], rows: list[list[str]]) -> int:
    widths = [max([len(c), *(len(r[i]) for r in rows if i < len(r))]) for i, c in enumerate(columns)]
    return sum(widths) + GAP * max(len(widths) - 1, 0)


def print_spec(console: Console, spec: dict[str, Any], run_dir: Path | None = None) -> None:
    """A problem's table (summary.json "table"), whole at any width; then its legend and the
    file that holds every cell in full."""
    columns, rows = cells(spec)
    print_table(console, str(spec.get("title", "")), columns, rows)
    if spec.get("legend"):
        console.print(f"[dim]{escape(str(spec['legend']))}[/]", highlight=False)
    if spec.get("full_text"):
        where = spec["full_text"] if run_dir is None else f"{Path(run_dir) / spec['full_text']}"
        console.print(f"full text: {escape(str(where))}", highlight=False, soft_wrap=True)


def print_table(console: Console, title: str, columns: list[str], rows: list[list[str]]) -> None:
    if natural_width(columns, rows) <= console.width:
        console.print(folding_table(title, columns, rows))
    else:
        print_records(console, title, columns, rows)


def folding_table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for col in columns:
        table.add_column(escape(col), justify="left", overflow="fold")
    for row in rows:
        table.add_row(*[escape(v) for v in row])
    return table


def print_records(console: Console, title: str, columns: list[str], rows: list[list[str]]) -> None:
    """One record per row: the first cell and the short ones on one line, the long ones below,
    each whole (soft-wrapped: no line break is inserted inside a formula)."""
    if title:
        console.print(f"[bold]{escape(title)}[/]", highlight=False, soft_wrap=True)
    widths = [max([0, *(len(r[i]) for r in rows if i < len(r))]) for i in range(len(columns))]
    short = [i for i in range(1, len(columns)) if widths[i] <= SHORT_CELL]
    long = [i for i in range(1, len(columns)) if widths[i] > SHORT_CELL]
    for row in rows:
        first = [f"[bold]{escape(row[0])}[/]" if row else ""]
        first += [f"{escape(columns[i])} {escape(row[i])}" for i in short if i < len(row)]
        console.print("  ".join(first), highlight=False, soft_wrap=True)
        for i in long:
            if i < len(row):
                console.print(f"    {escape(columns[i])}: {escape(row[i])}", highlight=False, soft_wrap=True)

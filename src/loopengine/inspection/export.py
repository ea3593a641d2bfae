"""`loopengine export RUN_DIR --format F`: a run's results in a format other tools read.

What is exported depends on the problem. A problem that judges targets one by one (Lyapunov
functions for a list of systems) has its results in summary.json: one record per target
(name, system, V, status, certificate file). Otherwise, and always with `--raw`, the
`--best K` best distinct verified candidates over the whole run.

  graph6  one graph per line (networkx.read_graph6, Sage Graph(str), nauty); graph problems only
  json    a list of records: per target, or per candidate with score, generation and the
          problem's human columns (raw object arrays only with --raw)
  sympy   one expression per line, parseable by sympy.sympify; expression problems only (V).
          Read from the archive by our own exact parser, never by sympify. Per target, the
          lines follow the targets that have a V (their names: --format json).

A format that does not fit the run's problem is refused with a message naming the formats
that do, rather than writing something no tool can read.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from rich.console import Console

from loopengine.errors import ArchiveError
from loopengine.inspection.runs import Run, best_over_run, human_columns, open_run
from loopengine.inspection.show import candidate_json
from loopengine.rundir.archive import clean_json

FORMATS = ("graph6", "json", "sympy")
EXPRESSION_COLUMNS = ("V",)


class ExportError(ArchiveError):
    """An export request that cannot be met for this run (the CLI exits with code 2)."""


def fitting_formats(columns: list[str]) -> list[str]:
    fits = ["json"]
    if "graph6" in columns:
        fits.insert(0, "graph6")
    if any(c in columns for c in EXPRESSION_COLUMNS):
        fits.append("sympy")
    return fits


def export_best(run_dir: Path, best: int, format_: str, out: Path | None = None,
                console: Console | None = None, raw: bool = False) -> str:
    fmt = format_.lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {format_!r}; choose one of {', '.join(FORMATS)}")
    if best < 1:
        raise ExportError(f"--best must be at least 1 (got {best})")
    run = open_run(run_dir)
    if run.results is not None and not raw:
        text, what = per_target(run, fmt), f"{len(run.results)} targets"
    else:
        rows = verified(best_over_run(run, best), run)
        columns = human_columns(rows)
        if fmt not in fitting_formats(columns):
            raise ExportError(f"format {fmt} does not fit problem {run.problem!r} (its candidates have columns: "
                              f"{', '.join(columns) or 'none'}); formats that fit: "
                              f"{', '.join(fitting_formats(columns))}")
        text = {"graph6": as_graph6, "json": lambda r: as_json(r, raw), "sympy": as_sympy}[fmt](rows)
        what = f"{len(rows)} candidates"
    if out is None:
        # plain stdout, not rich: the text must reach a pipe byte for byte (graph6 uses [ and \)
        (console.file if console is not None else sys.stdout).write(text)
    else:
        out = Path(out)
        if out.is_dir():
            raise ExportError(f"--out {out} is a directory; give a file name")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        if console is not None:
            console.print(f"exported {what} ({fmt}) to {out}", highlight=False)
    return text


def per_target(run: Run, fmt: str) -> str:
    """The problem's per-target results: json records, or the Vs as sympy lines."""
    results = run.results or []
    if fmt == "json":
        records = [{**r, "certificate": str(run.path / r["certificate"]) if r.get("certificate") else None}
                   for r in results]
        return json.dumps(clean_json(records), indent=1) + "\n"
    if fmt == "sympy":
        return as_sympy(pd.DataFrame({"V": [r.get("V") for r in results]}))
    raise ExportError(f"format {fmt} does not fit problem {run.problem!r}, whose results are per target; "
                      "formats that fit: json, sympy (or --raw for the raw candidates)")


def verified(rows: pd.DataFrame, run: Run) -> pd.DataFrame:
    if rows.empty or not rows["valid"].any():
        raise ExportError(f"{run.path} has no verified candidate to export "
                          f"(generations {run.generations[0]}-{run.generations[-1]})")
    return rows[rows["valid"]].reset_index(drop=True)


def as_graph6(rows: pd.DataFrame) -> str:
    return "".join(f"{g}\n" for g in rows["graph6"])


def as_json(rows: pd.DataFrame, raw: bool = False) -> str:
    columns = human_columns(rows)
    records = [candidate_json(rank, row, columns) for rank, (_, row) in enumerate(rows.iterrows(), 1)]
    if not raw:  # the arrays are the engine's encoding; people and other tools read the columns
        records = [{k: v for k, v in r.items() if k not in ("object", "prompt")} for r in records]
    return json.dumps(clean_json(records), indent=1) + "\n"


def as_sympy(rows: pd.DataFrame) -> str:
    """Each expression is read by the exact polynomial parser (archives are data: nothing is
    sympified) and written back from the sympy object assembled from its rationals."""
    from loopengine.problems.lyapunov.parse import ParseError, parse_polynomial, variable_count
    from loopengine.problems.lyapunov.polynomials import to_sympy

    column = next(c for c in EXPRESSION_COLUMNS if c in rows.columns)
    lines = []
    for text in rows[column]:
        if not isinstance(text, str):
            continue  # a generation written without this column (archives mixed by hand)
        try:
            n = variable_count(text)
            expr = to_sympy(parse_polynomial(text, n), n)
        except ParseError as exc:
            raise ExportError(f"candidate expression {text[:80]!r} is not a polynomial this export reads: "
                              f"{exc}") from None
        lines.append(f"{expr}\n")
    return "".join(lines)

"""`loopengine show RUN_DIR`: the generations of a run and its best candidates, for a person
(rich tables) or a program (`--json`, schema in docs/archive.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopengine.errors import ArchiveError
from loopengine.inspection import render
from loopengine.inspection.runs import Run, human_columns, open_run, top_candidates
from loopengine.inspection.tables import print_spec
from loopengine.rundir.archive import clean_json, read_format
from loopengine.rundir.trust import named_code

JSON_SCHEMA_VERSION = 1
# metrics.json keys copied into each entry of the --json "generations" list
GENERATION_KEYS = ("generation", "candidates", "samples", "best", "median", "q10", "q90", "best_ever",
                   "valid_fraction", "unique_fraction", "novelty", "token_entropy", "temperature",
                   "train_loss", "elapsed", "timings", "model")


def show_run(run_dir: Path, gen: int | None = None, top: int = 5, as_json: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    if top < 0:
        raise ArchiveError(f"--top must be 0 or more (got {top})")
    run = open_run(run_dir)
    g = run.generations[-1] if gen is None else gen
    frame = run.candidates(g)
    best = top_candidates(frame, top)
    summary = summary_json(run, g, best)
    # listed, never imported: see docs/trust.md
    summary["code"] = named_code(run.task, Path(read_format(run.path).get("task_dir", ".")))
    if as_json:
        console.out(json.dumps(summary, indent=2), highlight=False)
    else:
        print_run(run, g, best, console)
        for line in summary["code"]:
            console.print(f"[yellow]code:[/] task.toml names {escape(line)}; show does not import it, "
                          "resume runs it only with --trust", highlight=False, soft_wrap=True)
    return summary


def summary_json(run: Run, g: int, best: pd.DataFrame) -> dict[str, Any]:
    last = run.last
    return clean_json({
        "schema": JSON_SCHEMA_VERSION,
        "run": str(run.path),
        "task": run.name,
        "problem": run.problem,
        "archive_format": run.archive_format,
        "complete_generations": run.generations,
        "warnings": run.warnings,
        "headline": run.headline,
        "results": run.results,
        "best_ever": last.get("best_ever"),
        "best_known": last.get("best_known"),
        "gap": last.get("gap"),
        "generations": [{k: m.get(k) for k in GENERATION_KEYS} for m in run.metrics],
        "shown_generation": g,
        "top": [candidate_json(rank, row, human_columns(best)) for rank, (_, row) in enumerate(best.iterrows(), 1)],
        "summary": None if run.summary is None else {k: v for k, v in run.summary.items() if k != "table"},
    })


def candidate_json(rank: int, row: pd.Series, columns: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rank": rank,
        "generation": int(row["generation"]),
        "origin": str(row["origin"]),
        "score": None if pd.isna(row["score"]) else float(row["score"]),
        "valid": bool(row["valid"]),
        "columns": {c: _plain(row[c]) for c in columns},
        "object": np.asarray(row["object"]).tolist(),
        "prompt": np.asarray(row["prompt"]).tolist() if "prompt" in row.index else None,
    }
    if isinstance(row.get("graph6"), str):
        graph = render.parse_graph6(row["graph6"])
        out["graph"] = {"vertices": graph.number_of_nodes(), "edges": graph.number_of_edges()}
    return out


def print_run(run: Run, g: int, best: pd.DataFrame, console: Console) -> None:
    for warning in run.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    last = run.last
    if run.headline:
        console.print(f"[bold]{escape(run.headline)}[/]", highlight=False, soft_wrap=True)
    head = (f"[bold]{escape(run.name)}[/] (problem {escape(run.problem)})  {escape(str(run.path))}\n"
            f"generations: {len(run.generations)}"
            + ("" if last.get("best_ever") is None else f"  best ever: {render.fmt(last.get('best_ever'))}"))
    if last.get("best_known") is not None:
        head += f"  best known: {render.fmt(last['best_known'])}  gap: {render.fmt(last.get('gap'))}"
    best_files = sorted(run.path.glob("best.*"))
    if best_files:  # the best object in full, in a file other tools read
        head += "\nbest object in full: " + ", ".join(escape(p.name) for p in best_files) + " (in the run directory)"
    console.print(head, highlight=False)
    if run.summary and isinstance(run.summary.get("table"), dict):  # the results first
        print_spec(console, run.summary["table"], run.path)
    console.print(rich_table("Generations", *render.generation_table(run)))
    columns, rows = render.sources_table(run)
    if rows:
        unit = "second" if render.paid_in_seconds(run) else "start"
        console.print(rich_table(f"Start sources: share of the starts / yield (credited rows per {unit})", columns,
                                 rows))
    console.print(rich_table("Time per phase (seconds)", *render.timing_table(run)))
    columns, rows = render.model_table(run)
    if rows:
        console.print(rich_table("Model per generation (held-out test set)", columns, rows))
    print_model(run, g, console)
    print_candidates(run, g, best, console)


def print_model(run: Run, g: int, console: Console) -> None:
    model = run.metrics_of(g).get("model") or {}
    if not model:
        return
    console.print(rich_table(f"Model after generation {g}", ["metric", "value"],
                             [list(r) for r in render.model_scalars(model)]))
    title, header, rows = render.per_class_rows(model, run.problem)
    if rows:
        console.print(rich_table(title, header, rows))


def print_candidates(run: Run, g: int, best: pd.DataFrame, console: Console) -> None:
    if best.empty:
        console.print(f"no candidates listed for generation {g}")
        return
    console.print(f"\n[bold]Top {len(best)} distinct candidates of generation {g}[/]", highlight=False)
    columns = human_columns(best)
    certs = render.Certificates(run.path) if "V" in columns else None
    for rank, (_, row) in enumerate(best.iterrows(), 1):
        shown = render.render_candidate(row, columns, certs)
        console.print(f"[bold]#{rank}[/] {escape(shown.headline)}", highlight=False)
        for label, text in shown.details:
            console.print(f"    {escape(label)}: {escape(text)}", highlight=False, soft_wrap=True)
        for line in shown.picture:
            console.print(f"    {line}", highlight=False)


def rich_table(title: str, columns: list[str], rows: list[list[str]], show_header: bool = True) -> Table:
    table = Table(title=title, show_header=show_header, title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for i, col in enumerate(columns):
        # fold, never cut: a number or a word that does not fit goes on in the next line
        table.add_column(escape(col), justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*[escape(str(v)) for v in row])
    return table


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value

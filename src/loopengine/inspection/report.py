"""`loopengine report RUN_DIR`: PNG plots and one self-contained report.html beside them
(images are referenced by relative path, so the folder can be copied or served as is)."""
from __future__ import annotations

import html
from pathlib import Path

from loopengine.errors import ArchiveError
from loopengine.inspection import plots, render
from loopengine.inspection.runs import Run, human_columns, open_run, top_candidates

TOP = 5
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { line-height: 1.0; font-size: 0.8em; }
.warn { color: #a60; }
.cand { border-left: 3px solid #8ac; padding-left: 0.8em; margin-bottom: 1em; }
img { max-width: 100%; }
.headline { font-size: 1.3em; font-weight: bold; }
.legend { color: #555; font-size: 0.85em; }
th.formula { text-align: left; }
td.formula { text-align: left; font-family: monospace; word-break: break-word; max-width: 28em; }
"""


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    run = open_run(run_dir)
    out = Path(out) if out is not None else run.path / "report"
    if out.exists() and not out.is_dir():
        raise ArchiveError(f"--out {out} is a file; give a directory for the report")
    out.mkdir(parents=True, exist_ok=True)
    page = out / "report.html"
    page.write_text(html_page(run, images(run, out)))
    return page


def images(run: Run, out: Path) -> list[Path]:
    """The plots that have something to show, what the problem is judged on first: targets
    solved (conditional problems with targets) or the best score against the best known."""
    if plots.judged_by_targets(run):
        judged = [plots.targets_per_generation(run, out / "targets.png")]
    else:
        judged = [plots.best_per_generation(run, out / "best.png"), plots.best_graph(run, out / "best_graph.png"),
                  plots.score_distribution(run, out / "scores.png"), plots.best_vs_time(run, out / "best_vs_time.png")]
    made = [
        *judged,
        plots.training_loss(run, out / "training_loss.png"),
        plots.raw_vs_searched(run, out / "raw_vs_searched.png"),
        plots.plot_source_shares(run.metrics, out / "sources.png"),
        plots.model_metrics(run, out / "model.png"),
        plots.collapse(run, out / "collapse.png"),
        plots.phase_times(run, out / "phase_times.png"),
    ]
    return [p for p in made if p is not None]




def html_page(run: Run, images: list[Path]) -> str:
    e = html.escape
    last = run.last
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(run.name)} report</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{e(run.name)}</h1>",
             f"<p class='headline'>{e(run.headline)}</p>" if run.headline else "",
             f"<p>problem <b>{e(run.problem)}</b> &middot; run directory <code>{e(str(run.path))}</code> &middot; "
             f"{len(run.generations)} complete generations"
             + ("" if last.get("best_ever") is None
                else f" &middot; best ever <b>{e(render.fmt(last['best_ever']))}</b>")
             + (f" &middot; best known {e(render.fmt(last['best_known']))}"
                if last.get("best_known") is not None else "")
             + "</p>"]
    parts += [f"<p class='warn'>warning: {e(w)}</p>" for w in run.warnings]
    if run.summary and isinstance(run.summary.get("table"), dict):  # the results first
        parts.append(results_section(run))
    parts.append("<h2>Plots</h2>")
    parts += [f"<p><img src='{e(p.name)}' alt='{e(p.stem)}'></p>" for p in images]
    parts.append("<h2>Generations</h2>" + html_table(*render.generation_table(run)))
    parts.append("<h2>Time per phase (seconds)</h2>" + html_table(*render.timing_table(run)))
    columns, rows = render.model_table(run)
    if rows:
        parts.append("<h2>Model per generation (held-out test set)</h2>" + html_table(columns, rows))
    parts.append(model_section(run))
    parts.append(candidates_section(run))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def results_section(run: Run) -> str:
    """The problem's results table (summary.json), short status words with their legend;
    formulas wrap inside their cell, whole."""
    from loopengine.inspection.tables import cells

    e = html.escape
    spec = run.summary["table"]
    out = f"<h2>{e(str(spec.get('title', 'Results')))}</h2>" + html_table(*cells(spec), formula_cells=True)
    if spec.get("legend"):
        out += f"<p class='legend'>{e(str(spec['legend']))}</p>"
    if spec.get("full_text"):
        out += f"<p class='legend'>full text: <code>{e(str(run.path / spec['full_text']))}</code></p>"
    return out


def model_section(run: Run) -> str:
    model = run.last.get("model") or {}
    if not model:
        return ""
    out = f"<h2>Model after generation {run.generations[-1]}</h2>"
    out += html_table(["metric", "value"], [list(r) for r in render.model_scalars(model)])
    title, header, rows = render.per_class_rows(model, run.problem)
    if rows:
        out += f"<h3>{html.escape(title)}</h3>" + html_table(header, rows)
    return out


def candidates_section(run: Run) -> str:
    g = run.generations[-1]
    best = top_candidates(run.candidates(g), TOP)
    if best.empty:
        return ""
    columns = human_columns(best)
    certs = render.Certificates(run.path) if "V" in columns else None
    out = [f"<h2>Top {len(best)} distinct candidates of generation {g}</h2>"]
    for rank, (_, row) in enumerate(best.iterrows(), 1):
        shown = render.render_candidate(row, columns, certs)
        block = f"<div class='cand'><b>#{rank}</b> {html.escape(shown.headline)}<br>"
        block += "<br>".join(f"{html.escape(k)}: <code>{html.escape(v)}</code>" for k, v in shown.details)
        if shown.picture:
            block += "<pre>" + html.escape("\n".join(shown.picture)) + "</pre>"
        out.append(block + "</div>")
    return "\n".join(out)


def html_table(columns: list[str], rows: list[list[str]], formula_cells: bool = False) -> str:
    e = html.escape
    cell, th = ("<td class='formula'>", "<th class='formula'>") if formula_cells else ("<td>", "<th>")
    head = "<tr>" + "".join(f"{th}{e(c)}</th>" for c in columns) + "</tr>" if columns else ""
    body = "".join("<tr>" + "".join(f"{cell}{e(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"

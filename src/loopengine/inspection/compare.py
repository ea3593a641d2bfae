"""`loopengine compare RUN_A RUN_B`: two runs side by side: a table of outcomes and costs,
the task settings that differ, and one PNG of best score against wall time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from rich.console import Console
from rich.markup import escape

from loopengine.errors import ArchiveError
from loopengine.inspection import plots, render
from loopengine.inspection.runs import Run, open_run
from loopengine.inspection.show import rich_table


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None, console: Console | None = None) -> Path | None:
    """Print the two runs side by side; with `out`, also write a PNG there (nothing is
    written otherwise)."""
    console = console or Console()
    a, b = open_run(run_a), open_run(run_b)
    if a.path.resolve() == b.path.resolve():
        raise ArchiveError(f"compare needs two different runs; both are {a.path}")
    labels = run_labels(a, b)
    for run, label in zip((a, b), labels):  # the headlines first: what each run achieved
        console.print(f"[bold]{escape(label)}:[/] {escape(run.headline or 'no result yet')}", highlight=False,
                      soft_wrap=True)
    for run in (a, b):
        for warning in run.warnings:
            console.print(f"[yellow]warning:[/] {run.path}: {warning}", highlight=False)
    console.print(rich_table("Runs side by side", ["", *labels], outcome_rows(a, b)))
    diffs = setting_differences(a.task, b.task)
    if diffs:
        console.print(rich_table("Task settings that differ", ["key", *labels], diffs))
    if out is None:
        return None
    path = Path(out)
    if path.is_dir():
        raise ArchiveError(f"--out {path} is a directory; give a .png file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if plots.judged_by_targets(a) and plots.judged_by_targets(b):
        targets_png(a, b, labels, path)
    else:
        best_vs_time_png(a, b, labels, path)
    console.print(f"plot: {path}", highlight=False)
    return path


def targets_png(a: Run, b: Run, labels: list[str], path: Path) -> Path:
    """Targets with a V passing the sampler per generation, and each run's proven count."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.add_subplot()
    for run, label, color in ((a, labels[0], "tab:blue"), (b, labels[1], "tab:orange")):
        found = [float((m.get("model") or {}).get("targets_found", np.nan)) for m in run.metrics]
        ax.plot(run.generations, found, marker="o", color=color, label=f"{label}: passing the sampler")
        proven = (run.summary or {}).get("certified")
        if proven is not None:
            ax.plot([run.generations[-1]], [proven], marker="*", markersize=14, linestyle="none", color=color,
                    label=f"{label}: proven at the end ({proven})")
    ax.set_title("targets solved per generation", fontsize=10)
    ax.set_xlabel("generation")
    ax.set_ylabel("targets")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    plots.integer_axes(ax)
    return plots.save(fig, path)


def run_labels(a: Run, b: Run) -> list[str]:
    """Directory names, made unique with their parent when both runs are called alike."""
    if a.path.name != b.path.name:
        return [a.path.name, b.path.name]
    return [f"{a.path.parent.name}/{a.path.name}", f"{b.path.parent.name}/{b.path.name}"]


def outcome_rows(a: Run, b: Run) -> list[list[str]]:
    def row(label: str, get) -> list[str]:
        return [label, get(a), get(b)]

    def last(key: str, show=render.fmt):
        return lambda r: show(r.last.get(key))

    def proven(r: Run) -> str:
        s = r.summary or {}
        return f"{s['certified']}/{s['targets']}" if "certified" in s and "targets" in s else "-"

    targets = [row("targets proven", proven)] if plots.judged_by_targets(a) or plots.judged_by_targets(b) else []
    return [
        row("problem", lambda r: r.problem),
        row("generations", lambda r: str(len(r.generations))),
        *targets,
        row("best ever", last("best_ever")),
        row("best known", last("best_known")),
        row("gap to best known", last("gap")),
        row("reached best at (min)", lambda r: render.fmt(time_to_best(r), 3)),
        row("last median", last("median")),
        row("last valid %", last("valid_fraction", render.pct)),
        row("last unique %", last("unique_fraction", render.pct)),
        row("last novelty %", last("novelty", render.pct)),
        row("wall time (min)", lambda r: render.fmt((r.last.get("elapsed") or 0) / 60, 3)),
        row("mean s / generation", lambda r: render.seconds(np.mean([m["timings"].get("total", np.nan)
                                                                     for m in r.metrics if "timings" in m]))),
        *[row(f"model {k}", lambda r, k=k: model_value(r, k)) for k in shared_model_keys(a, b)],
    ]


def time_to_best(run: Run) -> float | None:
    """Wall time (minutes) at the end of the first generation that reached the final best."""
    best = run.last.get("best_ever")
    if best is None:
        return None
    for m in run.metrics:
        if m.get("best_ever") == best:
            return (m.get("elapsed") or 0.0) / 60
    return None


def shared_model_keys(a: Run, b: Run) -> list[str]:
    def scalars(run: Run) -> list[str]:
        return [k for k, v in (run.last.get("model") or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]

    return [k for k in scalars(a) if k in set(scalars(b))]


def model_value(run: Run, key: str) -> str:
    value = (run.last.get("model") or {}).get(key)
    return dict(render.model_scalars({key: value})).get(key, "-")


def setting_differences(a: dict[str, Any], b: dict[str, Any]) -> list[list[str]]:
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = sorted(set(flat_a) | set(flat_b))
    return [[k, str(flat_a.get(k, "(default)")), str(flat_b.get(k, "(default)"))]
            for k in keys if flat_a.get(k) != flat_b.get(k)]


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def best_vs_time_png(a: Run, b: Run, labels: list[str], path: Path) -> Path:
    fig = Figure(figsize=(8, 4.2))
    ax = fig.add_subplot()
    unit, unit_name = plots.time_unit(a, b)
    same_known = a.best_known() == b.best_known()
    for run, label, color in ((a, labels[0], "tab:blue"), (b, labels[1], "tab:orange")):
        plots.plot_best_vs_time(ax, run, label, unit, color=color)
        known = run.best_known()
        if known is not None and not (same_known and run is b):
            ax.axhline(known, color="tab:red" if same_known else color, linestyle="--", linewidth=1,
                       label=f"best known ({known:g})" if same_known else f"{label}: best known ({known:g})")
    ax.set_title("best score so far against wall time", fontsize=10)
    ax.set_xlabel(f"wall time ({unit_name}, end of each generation)")
    ax.set_ylabel("best score so far")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    plots.integer_axes(ax, a, x=False)
    return plots.save(fig, path)

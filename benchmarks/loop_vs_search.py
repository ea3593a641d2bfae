"""Equal wall clock, any task: the loop against search alone (`model.enabled = false`).

    python benchmarks/loop_vs_search.py TASK --seconds S --seeds K [--set KEY=VALUE ...] [--name NAME]

For each seed 0..K-1 the loop and then search alone run, one after the other in this process
(never two at once), generation after generation until S seconds of generations are spent
(each generation's `elapsed` in metrics.json: the loop's own clock, without start-up) or the
problem's best known value is reached. The last generation may overrun S; the trace says by how
much. The problem's finalize (e.g. the Lyapunov SOS certification) then runs outside the budget,
the same for both, and its summary gives the final count of proven targets where the problem
has one (certification happens only there, so a count over time is not available).

Search alone is the same engine with the model source removed: random starts, curriculum seeds
and perturbed elites share each generation's starts (sources.py), exactly as in the loop.

Writes benchmarks/results/loop_vs_search_<name>.{md,png,json}: best-so-far against wall time per
seed, time to the best known value (median and spread over seeds), final best and proven counts,
and the loop's start-source shares per generation.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from loopengine.config import load_task
from loopengine.loop import reached_best_known
from loopengine.progress import RunProgress
from loopengine.rundir import archive
from loopengine.session import build_loop, finish

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = {"loop": [], "search alone": ["model.enabled=false"]}


def run_for(task_path: Path, overrides: list[str], seconds: float, stop_at_known: bool = True,
            generations: int | None = None) -> dict[str, Any]:
    """Run a task for `seconds` of generations (or `generations` of them, or to its best known
    value); the trace of (elapsed, best_ever) per generation, when the best known value was
    reached (elapsed seconds), and the problem's summary."""
    # stop_at_best_known: the generation that reaches the best known value trains no model
    # that would never sample (loop.py), as a run that stops there does
    task, raw = load_task(task_path, [*overrides, f"loop.stop_at_best_known={str(stop_at_known).lower()}"])
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        loop = build_loop(task, task_path, task_path.parent, run_dir, quiet=True)
        archive.create_run(run_dir, raw, task_path.parent)
        trace, reached, reached_generation, reached_by, g = [], None, None, None, 0
        try:
            with RunProgress(10**6, quiet=True) as progress:
                while loop.state.elapsed < seconds and (generations is None or g < generations):
                    m = loop.generation(g, progress, next_runs=True)
                    trace.append({"generation": g, "elapsed": m["elapsed"], "best_ever": m["best_ever"],
                                  "shares": {k: v["share"] for k, v in m["sources"].items()},
                                  "train_steps": m.get("train_steps"), "hits": m.get("distinct_hits")})
                    g += 1
                    if reached is None and reached_best_known(m["best_ever"], m["best_known"]):
                        reached, reached_generation = m["elapsed"], g - 1
                        reached_by = found_by(loop.last_pool, m["best_known"])
                    if reached is not None and stop_at_known:
                        break
        finally:
            loop.executor.close()
        summary = finish(loop, run_dir)
    keep = ("best_ever", "best_known", "targets", "certified")
    return {"trace": trace, "reached": reached, "reached_generation": reached_generation, "reached_by": reached_by,
            "best_known": loop.problem.best_known(),
            "summary": {k: summary[k] for k in keep if k in summary}}


def found_by(pool, best_known: float) -> str | None:
    """The start source (pool origin, "+search" when local search changed the start) of the
    generation's first valid row at the best known value: which source reached it."""
    if pool is None or pool.score is None:
        return None
    hit = np.flatnonzero(np.asarray(pool.valid, dtype=bool) & (np.asarray(pool.score, dtype=float) >= best_known))
    return None if not len(hit) or pool.origin is None else str(pool.origin[hit[0]])


def spread(values: list[float | None]) -> str:
    """median [min, max] of the values (None: not reached, counted as infinite)."""
    xs = [np.inf if v is None else float(v) for v in values]
    if not xs:
        return "-"
    fmt = lambda x: "not reached" if np.isinf(x) else f"{x:.4g}"  # noqa: E731
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}, {fmt(max(xs))}]"


def best_at(trace: list[dict], t: float, key: str = "best_ever") -> float:
    """Best-so-far (or distinct hits so far, key="hits") at wall time t (NaN before the first
    generation ended)."""
    best = [r[key] for r in trace if r["elapsed"] <= t and r.get(key) is not None]
    return max(best) if best else np.nan


def counts_hits(results: dict[str, list[dict]]) -> bool:
    """Whether the problem counts hits (a rare-event problem: distinct counterexamples)."""
    return any(p.get("hits") is not None for runs in results.values() for r in runs for p in r["trace"])


def plot(results: dict[str, list[dict]], title: str, path: Path) -> None:
    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    end = max((r["trace"][-1]["elapsed"] for runs in results.values() for r in runs if r["trace"]), default=1.0)
    grid = np.linspace(0, end, 200)
    # a rare-event problem is judged on how many distinct hits it finds, not on its best score
    key = "hits" if counts_hits(results) else "best_ever"
    known = None if key == "hits" else next((r["best_known"] for runs in results.values() for r in runs), None)
    for (name, runs), color in zip(results.items(), ("tab:blue", "tab:orange")):
        for r in runs:
            xs = [p["elapsed"] for p in r["trace"]]
            ys = [np.nan if p.get(key) is None else p[key] for p in r["trace"]]
            ax.step(xs, ys, where="post", color=color, alpha=0.4, lw=1, marker="o", markersize=3)
            if r["reached"] is not None and key == "best_ever":  # when this run reached the best known value
                ax.plot([r["reached"]], [r["best_known"]], marker="v", markersize=8, color=color, alpha=0.7)
        curves = np.array([[best_at(r["trace"], t, key) for t in grid] for r in runs])
        with np.errstate(all="ignore"):
            ok = ~np.isnan(curves).any(axis=0)
        ax.plot(grid[ok], np.median(curves[:, ok], axis=0), color=color, lw=2.2, label=f"{name} (median)")
    if known is not None:
        ax.axhline(known, color="grey", ls="--", lw=1, label=f"best known {known:g}")
    ax.set_xlim(left=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # edge counts, proven counts: whole numbers
    ax.set_xlabel("wall time of generations (s; dots: generations, triangles: best known reached)")
    ax.set_ylabel("distinct hits so far" if key == "hits" else "best so far")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(args, results: dict[str, list[dict]], load_before: tuple, load_after: tuple) -> str:
    known = next((r["best_known"] for runs in results.values() for r in runs), None)
    lines = [f"# Loop vs search alone at equal wall clock: {args.name}", "",
             f"{datetime.date.today()}: `python benchmarks/loop_vs_search.py {args.task} --seconds {args.seconds:g} "
             f"--seeds {args.seeds}{''.join(f' --set {s}' for s in args.set)}`; {platform.machine()} with "
             f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
             f"{' '.join(f'{x:.2f}' for x in load_after)} after (shared machine: timings move with the load).", "",
             "Per run: S seconds of generations (metrics.json `elapsed`), or until the best known value; the "
             "problem's finalize (certification) runs after, outside the budget. Reached by: the start source "
             "of the first row at the best known value (\"+search\": local search changed that start).", "",
             "| method | seed | generations | time used (s) | final best | time to best known (s) "
             "| reached in generation | reached by | proven |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        for seed, r in enumerate(runs):
            s = r["summary"]
            proven = f"{s['certified']} / {s['targets']}" if "certified" in s else "-"
            last = r["trace"][-1] if r["trace"] else {"elapsed": 0.0, "best_ever": None}
            reached = "-" if r["reached"] is None else f"{r['reached']:.1f}"
            at = "-" if r.get("reached_generation") is None else r["reached_generation"]
            lines.append(f"| {name} | {seed} | {len(r['trace'])} | {last['elapsed']:.1f} | {last['best_ever']} | "
                         f"{reached} | {at} | {r.get('reached_by') or '-'} | {proven} |")
    lines += ["", f"Median [min, max] over {args.seeds} seeds (best known: {known}):", "",
              "| method | final best | time to best known (s) | reached | proven |", "|---|---|---|---|---|"]
    medians = {}
    for name, runs in results.items():
        reached = [r["reached"] for r in runs]
        medians[name] = statistics.median([np.inf if t is None else t for t in reached]) if runs else np.inf
        certified = [r["summary"].get("certified") for r in runs]
        proven = spread(certified) if runs and None not in certified else "-"
        finals = [r["trace"][-1]["best_ever"] for r in runs if r["trace"] and r["trace"][-1]["best_ever"] is not None]
        lines.append(f"| {name} | {spread(finals)} | "
                     f"{spread(reached) if known is not None else '-'} | "
                     f"{sum(t is not None for t in reached) if known is not None else '-'} / {len(runs)} | {proven} |")
    if counts_hits(results):
        lines += ["", "Distinct hits (Problem.hits: for the trees, non-isomorphic counterexamples) found in the "
                  "run, gen 0 included, and per minute of the run's own time:", "",
                  "| method | distinct hits | per minute |", "|---|---|---|"]
        for name, runs in results.items():
            hits = [r["trace"][-1]["hits"] for r in runs if r["trace"]]
            rates = [60 * r["trace"][-1]["hits"] / r["trace"][-1]["elapsed"] for r in runs if r["trace"]]
            lines.append(f"| {name} | {spread(hits)} | {spread(rates)} |")
    a, b = medians.get("loop", np.inf), medians.get("search alone", np.inf)
    if np.isfinite(a) and np.isfinite(b) and b > 0:
        lines += ["", f"Median time to the best known value, loop / search alone: **{a / b:.2f}x**."]
    if all(r.get("reached_generation") == 0 for runs in results.values() for r in runs):
        lines += ["", "Every run reached the best known value in generation 0, which is the same work for both "
                  "methods (the same random starts through the same search; the loop trains no model in a "
                  "generation that ends the run): the times differ by machine noise only, and this size does not "
                  "tell the methods apart."]
    loop_runs = results.get("loop", [])
    if loop_runs:
        lines += ["", "The loop's start-source shares per generation (seed 0; sources.py):", "",
                  "| generation | elapsed (s) | shares | train steps |", "|---|---|---|---|"]
        for p in loop_runs[0]["trace"][1:]:
            shares = ", ".join(f"{k} {v:.2f}" for k, v in p["shares"].items())
            lines.append(f"| {p['generation']} | {p['elapsed']:.1f} | {shares} | {p['train_steps']} |")
    lines += ["", f"![best so far](loop_vs_search_{args.name}.png)", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("task", type=Path)
    ap.add_argument("--seconds", type=float, required=True, help="wall-clock seconds of generations per run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="task override, both methods")
    ap.add_argument("--name", default=None, help="results file stem (default: task name and seconds)")
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = ap.parse_args()
    args.name = args.name or f"{args.task.stem}_{args.seconds:g}s"
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {name: [] for name in args.methods}
    for seed in range(args.seeds):
        for name in args.methods:
            r = run_for(args.task, [*args.set, f"task.seed={seed}", *METHODS[name]], args.seconds)
            results[name].append(r)
            print(f"seed {seed} {name}: {len(r['trace'])} generations, best {r['trace'][-1]['best_ever']}, "
                  f"reached {r['reached']}, {r['summary']}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"loop_vs_search_{args.name}"
    title = f"{args.name}: best so far, {args.seeds} seeds, {args.seconds:g} s each"
    plot(results, title, stem.with_suffix(".png"))
    stem.with_suffix(".json").write_text(json.dumps({"args": {**vars(args), "task": str(args.task)},
                                                     "results": results}, indent=1, default=str))
    text = report(args, results, load_before, os.getloadavg())
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

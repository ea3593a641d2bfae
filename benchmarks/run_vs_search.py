"""Whole runs, as a user runs them: a task with its model against the same task searched alone.

    python benchmarks/run_vs_search.py tasks/lyapunov.toml --seeds 3 [--set KEY=VALUE ...] [--name NAME]

For each seed the task runs to its own end (its generations, then finalize: for the Lyapunov
family, the exact certification), once as written and once with `model.enabled = false`, the
two one after the other so both see the same machine load. Recorded per run: the headline, the
proven count where the problem certifies, which source proposed each proven object
(`proven_by`), and the run's own seconds (summary.json `seconds`: generations plus finalize,
without the process start) beside the wall time of the whole call.

Where `loop_vs_search.py` gives both methods the same seconds of generations, this answers the
question a user of the main job asks: run it as shipped or search alone, which proves more, and
which is done sooner?

Writes benchmarks/results/run_vs_search_<name>.{md,json}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from loopengine.session import start_run

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = {"loop": [], "search alone": ["model.enabled=false"]}


def one_run(task: Path, overrides: list[str], seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_dir, _ = start_run(task, [*overrides, f"task.seed={seed}", f"task.out={tmp}"], quiet=True)
        wall = time.perf_counter() - t0
        summary = json.loads((run_dir / "summary.json").read_text())
    return {"seed": seed, "wall_s": round(wall, 1), "seconds": summary.get("seconds"),
            "headline": summary.get("headline"), "certified": summary.get("certified"),
            "targets": summary.get("targets"), "proven_by": summary.get("proven_by"),
            "best_ever": summary.get("best_ever")}


def median_of(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):g} [{min(values):g}, {max(values):g}]"


def report(args, results: dict[str, list[dict]], load_before, load_after) -> str:
    sets = "".join(f" --set {s}" for s in args.set)
    lines = [f"# Whole runs, loop against search alone: {args.name}", "",
             f"{datetime.date.today()}: `python benchmarks/run_vs_search.py {args.task} --seeds {args.seeds}{sets}`; "
             f"{platform.machine()} with {os.cpu_count()} cores, load average "
             f"{' '.join(f'{x:.2f}' for x in load_before)} before, {' '.join(f'{x:.2f}' for x in load_after)} after.",
             "", "| method | seed | proven | proven by | run's own s | wall s |", "|---|---|---|---|---|---|"]
    for name, runs in results.items():
        for r in runs:
            proven = "-" if r["certified"] is None else f"{r['certified']} / {r['targets']}"
            by = ", ".join(f"{k} {v}" for k, v in (r["proven_by"] or {}).items()) or "-"
            lines.append(f"| {name} | {r['seed']} | {proven} | {by} | {r['seconds']} | {r['wall_s']} |")
    lines += ["", f"Median [min, max] over {args.seeds} seeds:", "",
              "| method | proven | run's own s | wall s |", "|---|---|---|---|"]
    for name, runs in results.items():
        lines.append(f"| {name} | {median_of(runs, 'certified')} | {median_of(runs, 'seconds')} | "
                     f"{median_of(runs, 'wall_s')} |")
    loop, alone = results.get("loop", []), results.get("search alone", [])
    if loop and alone:
        a = statistics.median(r["seconds"] for r in loop)
        b = statistics.median(r["seconds"] for r in alone)
        lines += ["", f"Median run time, loop / search alone: **{a / b:.2f}x**."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("task", type=Path)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="task override, both methods")
    ap.add_argument("--name", default=None, help="results file stem (default: the task file's stem)")
    args = ap.parse_args()
    args.name = args.name or args.task.stem
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {name: [] for name in METHODS}
    for seed in range(args.seeds):
        for name, extra in METHODS.items():
            r = one_run(args.task, [*args.set, *extra], seed)
            results[name].append(r)
            print(f"seed {seed} {name}: {r['headline']} (wall {r['wall_s']} s)", flush=True)
    text = report(args, results, load_before, os.getloadavg())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"run_vs_search_{args.name}.md").write_text(text)
    (RESULTS / f"run_vs_search_{args.name}.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()

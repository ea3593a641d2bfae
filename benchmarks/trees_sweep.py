"""Trees, the loop against search alone across sizes: distinct non-isomorphic counterexamples
per size at equal wall clock.

    python benchmarks/trees_sweep.py --n 26 27 28 30 32 34 36 38 40 --seconds 60 [--seeds 1] [--set KEY=VALUE ...]

For each n and seed, tasks/trees.toml at that n runs for S seconds of generations as the loop
and then as search alone (`model.enabled = false`), with `sources.cost = "seconds"` (each source
pays its seconds; the model's training is time-boxed to its share) unless --set says otherwise.
Counted: distinct counterexamples found in the run (metrics.json `distinct_hits`, generation 0
included), per minute of the run's own time, and the time of the first one.

Writes benchmarks/results/trees_sweep_<seconds>s.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

from loop_vs_search import run_for

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "tasks" / "trees.toml"
METHODS = {"loop": [], "search alone": ["model.enabled=false"]}


def first_hit(trace: list[dict]) -> float | None:
    return next((p["elapsed"] for p in trace if p.get("hits")), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[26, 27, 28, 30, 32, 34, 36, 38, 40])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    overrides = ['sources.cost="seconds"', *args.set]
    load = os.getloadavg()
    now = datetime.datetime.now(datetime.UTC)
    lines = [f"# Trees: loop against search alone across sizes ({now:%Y-%m-%d %H:%M} UTC)",
             "", f"`python benchmarks/trees_sweep.py --n {' '.join(map(str, args.n))} --seconds {args.seconds:g} "
             f"--seeds {args.seeds}{''.join(f' --set {s}' for s in args.set)}` (tasks/trees.toml, "
             f"{', '.join(overrides)}); {platform.machine()}, {os.cpu_count()} cores, load average "
             f"{load[0]:.1f} at the start.", "",
             "Distinct counterexamples (non-isomorphic trees with a break) found in S seconds of generations, "
             "per minute, and seconds to the first one (- = none).", "",
             "| n | seed | loop: distinct | per min | first (s) | search alone: distinct | per min | first (s) |",
             "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for n in args.n:
        for seed in range(args.seeds):
            cells = []
            for extra in METHODS.values():
                r = run_for(TASK, [*overrides, *extra, f"problem.n={n}", f"task.seed={seed}"], args.seconds,
                            stop_at_known=False)
                last = r["trace"][-1]
                hits = last.get("hits") or 0
                first = first_hit(r["trace"])
                cells += [str(hits), f"{60 * hits / last['elapsed']:.1f}", "-" if first is None else f"{first:.0f}"]
            lines.append(f"| {n} | {seed} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.1f}.", ""]
    out = ROOT / "benchmarks" / "results" / f"trees_sweep_{args.seconds:g}s.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

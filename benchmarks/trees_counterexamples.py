"""Distinct trees with a non-log-concave independence sequence: how fast they turn up.

Two measurements, one process each, in one run of this script:

1. `kernel`: the C++ annealing alone (`loopengine._core.trees_search`, the task's kernel
   params) on fresh random starts, batch after batch for --seconds per n: distinct
   counterexamples (up to isomorphism) found, per minute, and the time to the first one.
2. `loop`: `tasks/trees.toml` at --loop-n for --generations generations, once with the model
   and once with `model.enabled=false` (search alone: the same kernel on fresh random starts
   plus re-searched elites): distinct counterexamples across all generations' candidates
   against the run's own elapsed time (metrics.json).

Every counterexample counted is rechecked with Python integers (problems/trees/sequence.py).

    python benchmarks/trees_counterexamples.py --n 25 26 27 28 30 --seconds 45 --loop-n 30 --generations 6
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from loopengine import _core
from loopengine.problems import make_problem
from loopengine.problems.trees.sequence import break_positions, independence_sequence
from loopengine.session import start_run

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "tasks" / "trees.toml"


def checked_keys(objects: np.ndarray, mask: np.ndarray) -> set[bytes]:
    """Canonical keys of the rows with a break, each break rechecked in Python integers."""
    rows = objects[mask]
    for row in rows:
        if not break_positions(independence_sequence(row)):
            raise AssertionError(f"not a counterexample after all: {row.tolist()}")
    return {row.tobytes() for row in _core.trees_canonical(np.ascontiguousarray(rows, dtype=np.int32))}


def kernel_alone(n: int, seconds: float, batch: int, params: dict, seed: int) -> dict:
    problem = make_problem("trees", {"n": n})
    found: set[bytes] = set()
    first = None
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    batches = 0
    while time.perf_counter() - start < seconds:
        starts = problem.initial_pool(rng, batch).objects
        out, _ = _core.trees_search.run(starts, None, seed * 1_000_003 + batches, 1, params)
        _, count, _, _ = _core.trees_score(out, params.get("breaks", 1), params.get("tail", 1), 1)
        found |= checked_keys(out, count > 0)
        if found and first is None:
            first = time.perf_counter() - start
        batches += 1
    elapsed = time.perf_counter() - start
    return {"n": n, "seconds": elapsed, "starts": batches * batch, "distinct": len(found),
            "per_minute": 60 * len(found) / elapsed, "first_s": first}


def run_counts(run_dir: Path) -> list[tuple[int, float, int]]:
    """(generation, elapsed s, distinct counterexamples so far) per generation."""
    seen: set[bytes] = set()
    out = []
    for gen in sorted(run_dir.glob("gen_*")):
        table = pd.read_parquet(gen / "candidates.parquet")
        objects = np.stack(table["object"].to_numpy()).astype(np.int32)
        seen |= checked_keys(objects, (table["breaks"] > 0).to_numpy())
        metrics = json.loads((gen / "metrics.json").read_text())
        out.append((metrics["generation"], metrics["elapsed"], len(seen)))
    return out


def loop_run(n: int, generations: int, model: bool, seed: int, out: Path,
             extra: list[str]) -> list[tuple[int, float, int]]:
    overrides = [*extra, f"task.out={out}", f"task.generations={generations}", f"problem.n={n}", f"task.seed={seed}",
                 f"task.name=trees_{'loop' if model else 'search'}"]
    if not model:
        overrides.append("model.enabled=false")
    run_dir, _ = start_run(TASK, overrides, quiet=True)
    return run_counts(run_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="*", default=[25, 26, 27, 28, 30])
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--loop-n", type=int, nargs="*", default=[30])
    ap.add_argument("--generations", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="task override for both loop runs, e.g. sampling.temperature=1.5")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "trees_counterexamples.md")
    args = ap.parse_args()
    params = tomllib.loads(TASK.read_text())["kernel"]["params"]
    lines = [f"# Distinct non-log-concave trees found ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)", "",
             f"`python benchmarks/trees_counterexamples.py --n {' '.join(map(str, args.n))} --seconds {args.seconds:g} "
             f"--loop-n {' '.join(map(str, args.loop_n))} --generations {args.generations}"
             + "".join(f" --set {o}" for o in args.overrides) + "`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average at start "
             f"{os.getloadavg()[0]:.1f}; one kernel thread. Kernel params (tasks/trees.toml): `{params}`.", ""]
    if args.n:
        lines += ["## Kernel alone on random starts", "",
                  "| n | seconds | starts searched | distinct counterexamples | per minute | first after (s) |",
                  "|---|---|---|---|---|---|"]
    for n in args.n:
        r = kernel_alone(n, args.seconds, args.batch, params, args.seed)
        first = "-" if r["first_s"] is None else f"{r['first_s']:.1f}"
        lines.append(f"| {n} | {r['seconds']:.0f} | {r['starts']} | {r['distinct']} | {r['per_minute']:.1f} "
                     f"| {first} |")
        print(lines[-1], flush=True)
    for n in args.loop_n:
        lines += ["", f"## Loop against search alone, n = {n}, {args.generations} generations (tasks/trees.toml)", "",
                  "| generation | loop: elapsed s | loop: distinct so far | search alone: elapsed s | "
                  "search alone: distinct so far |", "|---|---|---|---|---|"]
        with tempfile.TemporaryDirectory() as tmp:
            with_model = loop_run(n, args.generations, True, args.seed, Path(tmp), args.overrides)
            alone = loop_run(n, args.generations, False, args.seed, Path(tmp), args.overrides)
        for (g, t1, d1), (_, t2, d2) in zip(with_model, alone):
            lines.append(f"| {g} | {t1:.0f} | {d1} | {t2:.0f} | {d2} |")
        rate = lambda rows: 60 * rows[-1][2] / rows[-1][1]  # noqa: E731
        lines += ["", f"Per minute of run time: loop {rate(with_model):.1f}, search alone {rate(alone):.1f}."]
        print("\n".join(lines[-args.generations - 3:]), flush=True)
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.1f}."]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The full loop against local search alone, on C4-free graphs, for the same wall-clock budget.

For any task and several seeds, loop_vs_search.py compares the loop with the engine's own
search alone (`model.enabled = false`); this script keeps the hand-written search below as a
reference outside the engine. Both sides use the same kernel with the same parameters (taken
from the task preset for each n) and the same thread count:
- loop: the preset run generation by generation (loop_vs_search.run_for: the start sources
  share each generation's starts, sources.py);
- search alone: batches of random starts through the kernel, plus the best graphs found so
  far kicked and searched again with the preset's elite parameters, batch after batch.
A method stops when its budget is spent or when it reaches the best known value (the
values in the table are proven maxima, so nothing larger exists). The loop is checked
between generations, so its last generation may overrun the budget; the time column says.

    python benchmarks/c4_loop_vs_search.py --budget 180 [--sizes 20 25 30] [--plain]
    python benchmarks/c4_loop_vs_search.py --generations 10 --sizes 40 [--set problem.vertex_order=bfs]

--generations G gives both sides the same *kernel* budget instead of the same wall-clock:
G loop generations against G search batches (each batch searches as many random starts
as a generation searches samples, with the same parameters, and re-searches as many
elites), so only where the starts come from differs; model training is then free time.
--set KEY=VALUE overrides the preset on both sides (as `loopengine run --set`).

--plain sets rounds = 0 on both sides: the paper's one-shot repair + growth search, where
the model has to do the exploring.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from loop_vs_search import run_for  # the engine's loop, run for a time or generation budget
from loopengine.config import load_task
from loopengine.kernels.resolve import resolve_kernel
from loopengine.pool import Pool
from loopengine.problems import make_problem

TASKS = Path(__file__).resolve().parent.parent / "tasks"
PRESETS = {20: "c4free.toml", 25: "c4free_n25.toml", 30: "c4free_n30.toml", 40: "c4free_n40.toml"}


def preset(n: int, args):
    path = TASKS / PRESETS[max([k for k in PRESETS if k <= n], default=20)]  # the preset of the nearest size below
    overrides = [f"problem.n={n}", f"execution.threads={args.threads}", f"task.seed={args.seed}", *args.set]
    if args.threads == 1:  # the preset may name its own kernel/torch thread counts
        overrides += ["execution.kernel_threads=1", "execution.torch_threads=1"]
    if args.plain:
        overrides += ["kernel.params.rounds=0", "kernel.elite_params.rounds=0"]
    return path, overrides


def more(step: int, track: Tracker, args) -> bool:
    """Whether a method runs another generation (or batch): G of them with --generations,
    else until the wall-clock budget is spent."""
    return step < args.generations if args.generations else track.elapsed() < args.budget


class Tracker:
    """Best edge count over time, and when the best known value was first reached."""

    def __init__(self, target: float | None) -> None:
        self.start, self.target = time.perf_counter(), target
        self.best, self.reached_at = -1.0, None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def see(self, best: float | None) -> bool:
        if best is not None and best > self.best:
            self.best = best
            if self.target is not None and best >= self.target and self.reached_at is None:
                self.reached_at = self.elapsed()
        return self.reached_at is not None


def run_loop(n: int, args) -> dict:
    path, overrides = preset(n, args)
    r = run_for(path, overrides, math.inf if args.generations else args.budget, generations=args.generations or None)
    best = max([p["best_ever"] for p in r["trace"] if p["best_ever"] is not None], default=-1.0)
    used = r["trace"][-1]["elapsed"] if r["trace"] else 0.0
    return {"best": best, "reached": r["reached"], "used": used, "work": f"{len(r['trace'])} generations"}


def run_search(n: int, args) -> dict:
    path, overrides = preset(n, args)
    task, _ = load_task(path, overrides)
    threads, seed = task.execution.kernel_threads or task.execution.threads, args.seed
    problem = make_problem(task.task.problem, task.problem, path, path.parent)
    kernel = resolve_kernel(task.kernel.local_search, problem.default_kernel, path, path.parent)
    loop = task.loop
    batch = loop.samples_per_generation  # same batch size as a loop generation's samples
    rng = np.random.default_rng([seed, n])
    track, elites, searches, b = Tracker(problem.best_known()), None, 0, 0
    while more(b, track, args):
        pool = problem.initial_pool(rng, loop.initial_pool if b == 0 else batch)
        pool.objects = kernel(pool.objects, None, int(rng.integers(2**62)), threads, task.kernel.params)
        searches += len(pool)
        if elites is not None:
            again = elites.take(np.arange(min(loop.elite_reentry, len(elites))))
            again.objects = kernel(again.objects, None, int(rng.integers(2**62)), threads, task.kernel.elite_params)
            searches += len(again)
            pool = Pool.concat([pool, again])
        problem.evaluate(pool)
        pool = pool.take(np.flatnonzero(pool.valid))
        merged = pool if elites is None else Pool.concat([elites, pool])
        _, first = np.unique(merged.objects, axis=0, return_index=True)
        merged = merged.take(first)
        elites = merged.take(np.argsort(-merged.score, kind="stable")[: loop.elite_size])
        b += 1
        if track.see(float(elites.score[0])):
            break
    return {"best": track.best, "reached": track.reached_at, "used": track.elapsed(),
            "work": f"{b} batches, {searches} searches"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=180.0, help="wall-clock seconds per n and method")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 25, 30])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="rounds = 0: one-shot repair + growth on both sides")
    ap.add_argument("--generations", type=int, default=0, help="equal kernel budget: G generations / G batches")
    ap.add_argument("--methods", nargs="+", choices=["loop", "search alone"], default=["loop", "search alone"],
                    help="run only these sides (e.g. --methods 'search alone' for a quick look at larger n)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="preset override, both sides")
    args = ap.parse_args()

    fmt = lambda t: "-" if t is None else f"{t:.1f} s"  # noqa: E731
    mode = "plain repair + growth (rounds = 0)" if args.plain else "preset kernel parameters (iterated search)"
    print(f"# C4-free: loop vs local search alone — {mode}\n")
    budget = (f"{args.generations} generations / batches (equal kernel budget)" if args.generations
              else f"budget {args.budget:.0f} s")
    print(f"{datetime.date.today()}, {budget} per n and method, {args.threads} threads, seed {args.seed}, "
          f"overrides {args.set or 'none'}, {platform.machine()} with {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n")
    print("| n | best known | method | best edges | time to best known | time used | work |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for name, method in (("loop", run_loop), ("search alone", run_search)):
            if name not in args.methods:
                continue
            r = method(n, args)
            known = make_problem("c4free", {"n": n}, "benchmark", None).best_known()
            print(f"| {n} | {known:.0f} | {name} | {r['best']:.0f} | {fmt(r['reached'])} | {fmt(r['used'])} "
                  f"| {r['work']} |",
                  flush=True)


if __name__ == "__main__":
    main()

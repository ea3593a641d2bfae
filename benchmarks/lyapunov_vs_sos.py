"""Loop machinery vs direct SOS search (SOSTOOLS findlyap style) on generated systems.

Systems: half backward-generated (a polynomial V of degree <= 4 exists by construction),
half forward-generated random sparse systems (may have no V at all).
- "loop": what a loop generation does for one system, without the model: random V starts ->
  C++ local search -> sampler -> exact SOS certification of the best few (Problem in mode one).
- "sos":  one SDP per degree 2, 4 with V unknown, then the same exact certification of the
  rounded V.
Both are judged by the same exact certifier; a system counts as solved only if certified.

    python benchmarks/lyapunov_vs_sos.py [--systems 20] [--seed 0]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from loopengine.problems import make_problem
from loopengine.problems.lyapunov.backward import BackwardSpec, backward_example
from loopengine.problems.lyapunov.baseline import find_lyapunov
from loopengine.problems.lyapunov.certificate import PROVEN
from loopengine.problems.lyapunov.falsify import local_search
from loopengine.problems.lyapunov.forward import forward_system
from loopengine.problems.lyapunov.polynomials import poly_text


def loop_solve(system, n: int, seed: int, starts: int, steps: int) -> tuple[str, float]:
    t0 = time.perf_counter()
    f = [poly_text(eq, "**") for eq in system]
    problem = make_problem("lyapunov", {"mode": "one", "f": f, "v_degree": 4, "max_terms": 8,
                                        "certify_seconds": 60}, "bench")
    pool = problem.initial_pool(np.random.default_rng(seed), starts)
    pool.objects = local_search(pool.objects, None, seed, 1, steps=steps)
    problem.evaluate(pool, 1)
    with tempfile.TemporaryDirectory() as tmp:
        row = problem.finalize(Path(tmp), pool).table.rows[0]
    return row[3], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--starts", type=int, default=64)
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    spec = BackwardSpec(n_min=2, n_max=3, v_degree=4, f_degree=3)
    systems = []
    for k in range(args.systems):
        if k % 2 == 0:
            n, f, _ = backward_example(rng, spec)
            systems.append(("backward", n, f))
        else:
            n = int(rng.integers(2, 4))
            systems.append(("forward", n, forward_system(rng, n, 3, 2)))
    results = {"loop": [], "sos": []}
    print(f"{'#':>3} {'kind':9} {'n':>2} {'loop status':22} {'loop s':>7} {'sos status':22} {'sos s':>7}")
    for k, (kind, n, f) in enumerate(systems):
        ls, lt = loop_solve(f, n, args.seed + k, args.starts, args.steps)
        b = find_lyapunov(f, n, max_degree=4, time_limit=60)
        results["loop"].append((kind, ls, lt))
        results["sos"].append((kind, b.status, b.seconds))
        print(f"{k:3d} {kind:9} {n:2d} {ls:22} {lt:7.2f} {b.status:22} {b.seconds:7.2f}", flush=True)
    print()
    for name, rows in results.items():
        for kind in ("backward", "forward", "all"):
            sel = [r for r in rows if kind == "all" or r[0] == kind]
            solved = sum(r[1] in PROVEN for r in sel)
            plaus = sum(r[1] == "numerically plausible" for r in sel)
            print(f"{name:5} {kind:9} certified {solved:3d}/{len(sel):<3d} plausible {plaus:3d}  "
                  f"mean time {np.mean([r[2] for r in sel]):6.2f} s")


if __name__ == "__main__":
    main()

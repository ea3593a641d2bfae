"""Trees whose independence sequence breaks log-concavity at two indices: a two-stage search.

Stage 1 anneals random starts on the last-index score (tail = 1, one break); stage 2 anneals
the stage-1 trees on the second-largest r_k over the last `tail` indices (breaks = 2), at a
lower temperature, stopping at the first tree with two breaks. Aiming at two breaks from
random starts directly found none at n = 40 and 64 (the second-largest r_k is a flat
landscape far from 0). Every tree reported is rechecked with Python integers.

    python benchmarks/trees_two_breaks.py --n 48 52 56 --rows 32
"""
from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import numpy as np

from loopengine import _core
from loopengine.problems import make_problem
from loopengine.problems.trees.sequence import break_positions, graph6, independence_sequence

ROOT = Path(__file__).resolve().parents[1]
STAGE1 = {"steps": 20000, "tail": 1}
STAGE2 = {"steps": 20000, "breaks": 2, "t_start": 0.002, "t_end": 0.0002, "stop_at_break": 1}


def two_break_trees(n: int, rows: int, tails: list[int], seed: int) -> tuple[list[np.ndarray], float]:
    start = time.perf_counter()
    starts = make_problem("trees", {"n": n}).initial_pool(np.random.default_rng(seed), rows).objects
    one, _ = _core.trees_search.run(starts, None, seed, 1, STAGE1)
    found: dict[bytes, np.ndarray] = {}
    for tail in tails:
        two, _ = _core.trees_search.run(one, None, seed + tail, 1, {**STAGE2, "tail": tail})
        _, count, _, _ = _core.trees_score(two, 1, 0, 1)
        for row in two[count >= 2]:
            if len(break_positions(independence_sequence(row))) < 2:
                raise AssertionError(f"not two breaks after all: {row.tolist()}")
            found[row.tobytes()] = row
    return list(found.values()), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[48, 52, 56])
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--tails", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "trees_two_breaks.md")
    args = ap.parse_args()
    lines = [f"# Trees with two log-concavity breaks ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)", "",
             f"`python benchmarks/trees_two_breaks.py --n {' '.join(map(str, args.n))} --rows {args.rows} "
             f"--tails {' '.join(map(str, args.tails))}`", "",
             f"Stage 1 `{STAGE1}`, stage 2 `{STAGE2}` with tail in {args.tails}; one thread, load average at start "
             f"{os.getloadavg()[0]:.1f}.", "",
             "| n | seconds | distinct trees with >= 2 breaks | breaks of the first |", "|---|---|---|---|"]
    smallest = None
    for n in args.n:
        trees, seconds = two_break_trees(n, args.rows, args.tails, args.seed)
        first = break_positions(independence_sequence(trees[0])) if trees else "-"
        lines.append(f"| {n} | {seconds:.0f} | {len(trees)} | {first} |")
        print(lines[-1], flush=True)
        if trees and (smallest is None or n < len(smallest)):
            smallest = trees[0]
    if smallest is not None:
        seq = independence_sequence(smallest)
        lines += ["", f"Smallest found: n = {len(smallest)}, breaks at k = {break_positions(seq)} "
                      f"(alpha = {len(seq) - 1}).", "",
                  f"- graph6: `{graph6(smallest)}`", f"- parents: `{' '.join(map(str, smallest.tolist()))}`",
                  f"- independence sequence: `{' '.join(map(str, seq))}`"]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

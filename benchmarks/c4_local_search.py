"""C4-free local search: the C++ kernel against the same algorithm in pure Python.

Both sides run the kernel's algorithm step for step (repair: delete the edge on the most
4-cycles, reservoir tie-break; growth: add non-edges in shuffled order when they close no
4-cycle) with a Python port of the kernel's splitmix64 stream, so on the same starts they
must return the *same graphs*. The benchmark checks that before it prints any ratio: a
speed-up over a different algorithm would mean nothing.

    python benchmarks/c4_local_search.py [--sizes 20 30 40] [--starts 30] [--seconds 2]
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from loopengine import _core
from loopengine.kernels.rng import KernelRng
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings


def has_c4(adj: list[int], n: int) -> bool:
    return any((adj[a] & adj[b]).bit_count() > 1 for a in range(n) for b in range(a + 1, n))


def cycles_through(adj: list[int], u: int, v: int) -> int:
    total, xs = 0, adj[v] & ~(1 << u)
    while xs:
        low = xs & -xs
        xs ^= low
        total += (adj[low.bit_length() - 1] & adj[u]).bit_count() - 1
    return total


def repair(adj: list[int], n: int, rng: KernelRng) -> None:
    while has_c4(adj, n):
        best = ties = 0
        bu = bv = -1
        for u in range(n):
            for v in range(u + 1, n):
                if not (adj[u] >> v) & 1:
                    continue
                c = cycles_through(adj, u, v)
                if c > best:
                    best, bu, bv, ties = c, u, v, 1
                elif c == best and c > 0:
                    ties += 1
                    if rng.below(ties) == 0:
                        bu, bv = u, v
        adj[bu] &= ~(1 << bv)
        adj[bv] &= ~(1 << bu)


def closes_c4(adj: list[int], u: int, v: int) -> bool:
    nv, a_set = adj[v], adj[u]
    while a_set:
        low = a_set & -a_set
        a_set ^= low
        if adj[low.bit_length() - 1] & nv:
            return True
    return False


def grow(adj: list[int], n: int, rng: KernelRng) -> None:
    non_edges = [(u, v) for u in range(n) for v in range(u + 1, n) if not (adj[u] >> v) & 1]
    for i in range(len(non_edges), 1, -1):
        j = rng.below(i)
        non_edges[i - 1], non_edges[j] = non_edges[j], non_edges[i - 1]
    for u, v in non_edges:
        if not closes_c4(adj, u, v):
            adj[u] |= 1 << v
            adj[v] |= 1 << u


def python_local_search(batch: np.ndarray, n: int, seed: int) -> np.ndarray:
    iu, ju = np.triu_indices(n, k=1)
    out = np.zeros_like(batch)
    for r, row in enumerate(batch):
        adj = [0] * n
        for i, j in zip(iu[row == 1], ju[row == 1]):
            adj[i] |= 1 << int(j)
            adj[j] |= 1 << int(i)
        rng = KernelRng(seed, r)
        repair(adj, n, rng)
        grow(adj, n, rng)
        out[r] = [(adj[i] >> int(j)) & 1 for i, j in zip(iu, ju)]
    return out


def cpp_rate(batch: np.ndarray, seed: int, threads: int, seconds: float) -> float:
    """Searches per second of the kernel on these starts, repeated until `seconds` pass."""
    tiled = np.ascontiguousarray(np.tile(batch, (max(1, 2000 // len(batch)), 1)))
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _core.c4_local_search(tiled, seed, threads)
        done += len(tiled)
    return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 30, 40])
    ap.add_argument("--starts", type=int, default=30, help="random starts per size (Python runs each once)")
    ap.add_argument("--seconds", type=float, default=2.0, help="timing window for the C++ kernel")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    print(f"# C4-free local search: C++ kernel vs pure Python ({platform.processor() or platform.machine()})\n")
    print("| n | starts | Python searches/s | C++ 1 thread/s | ratio | C++ 2 threads/s | same output |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        problem = C4Free(C4FreeSettings(n=n))
        batch = problem.initial_pool(np.random.default_rng([args.seed, n]), args.starts).objects
        t0 = time.perf_counter()
        py_out = python_local_search(batch, n, args.seed)
        py_rate = len(batch) / (time.perf_counter() - t0)
        same = np.array_equal(py_out, _core.c4_local_search(batch, args.seed, 1))
        if not same:
            raise SystemExit(f"n={n}: the Python port and the kernel disagree; the ratio would be meaningless")
        one = cpp_rate(batch, args.seed, 1, args.seconds)
        two = cpp_rate(batch, args.seed, 2, args.seconds)
        print(f"| {n} | {len(batch)} | {py_rate:.1f} | {one:.0f} | {one / py_rate:.0f}x | {two:.0f} | {same} |")


if __name__ == "__main__":
    main()

"""The no3_search kernel in plain Python: the prototype the C++ file was ported from.

Same algorithm and same random numbers (loopengine's splitmix64 Rng, seeded per row), so
`local_search = "no3_search.py:no3_search"` and `local_search = "no3_search.cpp"` produce
identical runs; the C++ one is only faster. Prototype here, port when it works, and keep
this file as the reference the port is tested against.
"""
from __future__ import annotations

import math

import numpy as np

from loopengine.kernels.rng import KernelRng


def collinear(a, b, c) -> bool:
    return (b[0] - a[0]) * (c[1] - a[1]) == (b[1] - a[1]) * (c[0] - a[0])


def repair(pts: list[tuple[int, int]], rng: KernelRng) -> None:
    while True:
        k = len(pts)
        on = [0] * k
        for a in range(k):
            for b in range(a + 1, k):
                for c in range(b + 1, k):
                    if collinear(pts[a], pts[b], pts[c]):
                        on[a] += 1
                        on[b] += 1
                        on[c] += 1
        best, ties, pick = 0, 0, 0
        for i, count in enumerate(on):
            if count > best:
                best, pick, ties = count, i, 1
            elif count == best and best > 0:
                ties += 1
                if rng.below(ties) == 0:
                    pick = i
        if best == 0:
            return
        del pts[pick]


def direction(p, q) -> tuple[int, int]:
    dx, dy = q[0] - p[0], q[1] - p[1]
    g = math.gcd(dx, dy)
    dx, dy = dx // g, dy // g
    return (dx, dy) if dx > 0 or (dx == 0 and dy > 0) else (-dx, -dy)


def fits(pts, p) -> bool:
    # p lines up with two points iff two of them leave p in the same direction
    seen = set()
    for q in pts:
        d = direction(p, q)
        if d in seen:
            return False
        seen.add(d)
    return True


def search_row(row: np.ndarray, n: int, kick: int, rng: KernelRng) -> int:
    pts = [(i // n, i % n) for i in np.flatnonzero(row)]
    for _ in range(kick):
        if not pts:
            break
        del pts[rng.below(len(pts))]
    repair(pts, rng)
    taken = {x * n + y for x, y in pts}
    empty = [i for i in range(n * n) if i not in taken]
    for i in range(len(empty), 1, -1):
        j = rng.below(i)
        empty[i - 1], empty[j] = empty[j], empty[i - 1]
    for cell in empty:
        p = (cell // n, cell % n)
        if fits(pts, p):
            pts.append(p)
    row[:] = 0
    for x, y in pts:
        row[x * n + y] = 1
    return len(pts)


def no3_search(objects: np.ndarray, prompts, seed: int, threads: int, kick: int = 0) -> np.ndarray:
    n = math.isqrt(objects.shape[1])
    if n * n != objects.shape[1]:
        raise ValueError(f"row width {objects.shape[1]} is not n*n")
    if kick < 0:
        raise ValueError(f"kick must be >= 0 (got {kick})")
    out = objects.copy()
    for r in range(len(out)):
        search_row(out[r], n, int(kick), KernelRng(seed, r))
    return out

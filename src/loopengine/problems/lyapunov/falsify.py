"""Sample points and thin wrappers around the C++ falsifier and local search.

Points mix scales (1e-3 .. 1e3) because violations hide in both places: near the origin the
lowest-degree terms decide the sign, far out the highest-degree ones. Coordinate axes and
two-variable diagonals are included because sign changes often sit exactly there.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

DEFAULT_SCALES = (1e-3, 1e-2, 1e-1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e3)


def sample_points(seed: int, n_max: int, per_scale: int = 24, scales=DEFAULT_SCALES) -> np.ndarray:
    """(P, n_max) float64 points; a row with n < n_max sees their first n coordinates."""
    rng = np.random.default_rng([seed, n_max, 7919])
    dirs = [np.eye(n_max), -np.eye(n_max)]
    for i in range(n_max):
        for j in range(i + 1, n_max):
            for si, sj in ((1, 1), (1, -1)):
                d = np.zeros(n_max)
                d[i], d[j] = si, sj
                dirs.append(d[None] / np.sqrt(2))
    fixed = np.concatenate(dirs)
    out = []
    for s in scales:
        g = rng.standard_normal((per_scale, n_max))
        # Random directions in every leading subspace, so rows with small n get full-rank samples too.
        keep = rng.integers(2, n_max + 1, size=per_scale) if n_max > 2 else np.full(per_scale, n_max)
        g[np.arange(n_max)[None, :] >= keep[:, None]] = 0.0
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        radius = s * rng.uniform(0.5, 1.5, size=(per_scale, 1))
        out += [g * radius, fixed * s]
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float64)


def check(objects: np.ndarray, points: np.ndarray, threads: int = 0, tol: float = 1e-9) -> np.ndarray:
    """(rows, 4): violations, penalty, min V/|V|, min -V'/|V'| (see csrc/src/lyapunov.cpp)."""
    from loopengine import _core

    return _core.lyapunov_check(np.ascontiguousarray(objects, dtype=np.float64), points, threads, tol)


NonNegativeInt = Annotated[int, Field(ge=0)]


def local_search(objects, prompts, seed, threads, steps: NonNegativeInt = 1000,
                 coef_bound: Annotated[float, Field(ge=0)] = 0.0, max_terms: NonNegativeInt = 0,
                 per_scale: Annotated[int, Field(ge=1)] = 8, tol: Annotated[float, Field(gt=0)] = 1e-9):
    """The engine's kernel signature; rows carry their own system (and, unless given here,
    coef_bound and max_terms), so prompts are not needed. The bounds are the task file's:
    kernel_params checks `[kernel] params` against them before a run writes anything
    (0 for coef_bound / max_terms means "the row's own")."""
    from loopengine import _core

    objects = np.ascontiguousarray(objects, dtype=np.float64)
    if len(objects) == 0:
        return objects.copy()
    points = sample_points(int(seed), int(objects[0, 1]), per_scale)
    return _core.lyapunov_local_search(objects, points, int(seed) & 0xFFFFFFFFFFFF, threads, int(steps),
                                       float(coef_bound), int(max_terms), float(tol))


# ---- a point that shows a V is wrong --------------------------------------------------------

def _simple_points(n: int):
    """Short rational points first (a person can check them by hand): a small grid for n <= 3,
    the axes and diagonals otherwise."""
    from fractions import Fraction
    from itertools import product

    values = [Fraction(v) for v in (1, -1, 2, -2)] + [Fraction(1, 2), Fraction(-1, 2), Fraction(1, 10),
                                                       Fraction(-1, 10), Fraction(10), Fraction(-10)]
    if n <= 3:
        for point in product([Fraction(0), *values], repeat=n):
            if any(point):
                yield point
        return
    for i in range(n):
        for a in values:
            yield tuple(a if k == i else Fraction(0) for k in range(n))
            for j in range(i + 1, n):
                for b in values[:4]:
                    yield tuple(a if k == i else b if k == j else Fraction(0) for k in range(n))


def _sampled_points(n: int, limit: int = 2000):
    """The falsifier's sample points, rounded to 3 significant digits (then exact rationals)."""
    from fractions import Fraction

    for row in sample_points(20241011, n, 16)[:limit]:
        point = tuple(Fraction(float(f"{x:.3g}")) for x in row[:n])
        if any(point):
            yield point


def evaluate(p, point) -> object:
    """p(point) exactly (p: {exponents: Fraction}, point: Fractions)."""
    total = 0
    for m, c in p.items():
        term = c
        for x, e in zip(point, m):
            if e:
                term *= x ** e
        total += term
    return total


def counterexample(v, f, n: int, sampled: int = 2000) -> dict | None:
    """A rational point x != 0 where V(x) <= 0 or V'(x) = grad V . f(x) > 0, evaluated exactly,
    or None when none of the tried points shows one (that proves nothing either way)."""
    from loopengine.problems.lyapunov.polynomials import lie_derivative

    vdot = lie_derivative(v, f)
    for points in (_simple_points(n), _sampled_points(n, sampled)):
        for point in points:
            value = evaluate(v, point)
            if value <= 0:
                return {"point": [str(x) for x in point], "V": str(value), "fails": "V(x) <= 0 at x != 0"}
            rate = evaluate(vdot, point)
            if rate > 0:
                return {"point": [str(x) for x in point], "V_dot": str(rate), "fails": "V'(x) > 0"}
    return None


def describe_counterexample(found: dict) -> str:
    """'V'(x) > 0: V'(x) = 3/4 at x = (1, -1/2)'."""
    point = "(" + ", ".join(found["point"]) + ")"
    value = f"V(x) = {found['V']}" if "V" in found else f"V'(x) = {found['V_dot']}"
    return f"{found['fails']}: {value} at x = {point}"

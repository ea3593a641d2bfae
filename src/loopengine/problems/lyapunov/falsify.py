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

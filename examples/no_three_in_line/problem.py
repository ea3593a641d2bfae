"""No three in line: as many points as possible on an n x n grid with no three collinear.

Every row of the grid holds at most 2 points, so 2n is an upper bound; configurations
with 2n points are known for every n <= 46 (Flammenkamp's searches), so for those n the
best known value is 2n and the loop's job is to rediscover it.

This file is a complete loopengine problem; docs/new_problem.md walks through it.
Objects (what kernels read): the grid, uint8 of width n*n, cell x*n + y.
Tokens (what the model reads and writes): one token per point, cells in increasing order
(the shared SubsetCodec: a grid is the subset of its cells that hold a point).
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from loopengine.problems import Pool, Problem, ProblemSettings
from loopengine.problems.codecs import SubsetCodec


class NoThreeInLineSettings(ProblemSettings):
    n: int = Field(8, ge=2, le=46, description="grid side")
    start_density_max: float = Field(0.3, ge=0, le=1, description="random starts: density drawn in [0, this]")


def has_three_in_line(points: np.ndarray) -> bool:
    """Exact check on integer coordinates (k, 2): is any triple collinear?"""
    k = len(points)
    if k < 3:
        return False
    d = points[None, :, :] - points[:, None, :]  # d[i, j] = p_j - p_i
    # cross[i, j, m] = 0 iff p_i, p_j, p_m are collinear (for distinct i, j, m)
    cross = d[:, :, None, 0] * d[:, None, :, 1] - d[:, :, None, 1] * d[:, None, :, 0]
    i, j, m = np.ogrid[:k, :k, :k]
    distinct = (i != j) & (j != m) & (i != m)
    return bool(np.any((cross == 0) & distinct))


def symmetries(grids: np.ndarray) -> list[np.ndarray]:
    """The 8 images of (N, n, n) grids under the symmetries of the square."""
    out = []
    for g in (grids, grids.transpose(0, 2, 1)):
        for turn in range(4):
            out.append(np.rot90(g, turn, axes=(1, 2)))
    return out


class NoThreeInLine(Problem):
    name = "no_three_in_line"
    Settings = NoThreeInLineSettings
    default_kernel = None  # the task file names the kernel (C++ or Python)

    def __init__(self, settings: NoThreeInLineSettings, task_dir=None) -> None:
        super().__init__(settings, task_dir)
        self.n = settings.n
        self.cells = self.n * self.n
        # a token per point, named "x,y"; 2n points at most are valid, plus a little slack
        self.codec = SubsetCodec([f"{x},{y}" for x in range(self.n) for y in range(self.n)], 2 * self.n + 2)

    # ---- data -----------------------------------------------------------------------
    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        density = rng.uniform(0, self.settings.start_density_max, size=(size, 1))
        objects = (rng.random((size, self.cells)) < density).astype(np.uint8)
        return Pool(objects=objects, origin=np.full(size, "seed", dtype=object))

    # ---- judging --------------------------------------------------------------------
    def evaluate(self, pool: Pool, threads: int = 0) -> Pool:
        counts = pool.objects.sum(axis=1)
        valid = np.zeros(len(pool), dtype=bool)
        for r, row in enumerate(pool.objects):
            # more than 2n points puts three in some row: invalid without looking further
            if counts[r] <= 2 * self.n:
                cells = np.flatnonzero(row)
                valid[r] = not has_three_in_line(np.stack([cells // self.n, cells % self.n], axis=1))
        pool.valid = valid
        pool.score = counts.astype(np.float64)
        return pool

    def canonical_keys(self, pool: Pool) -> list[bytes]:
        # a rotated or mirrored configuration is the same configuration: keep one of the 8
        grids = pool.objects.reshape(-1, self.n, self.n)
        images = np.stack([s.reshape(len(grids), -1) for s in symmetries(grids)], axis=1)
        return [min(img.tobytes() for img in row) for row in images]

    def best_known(self) -> float | None:
        return float(2 * self.n)

    # ---- for humans -----------------------------------------------------------------
    def picture(self, row: np.ndarray) -> list[str]:
        return ["".join("X" if v else "." for v in line) for line in row.reshape(self.n, self.n)]

    def human_columns(self, pool: Pool) -> dict[str, list]:
        return {"grid": ["/".join(self.picture(row)) for row in pool.objects]}

    def describe_best(self, pool: Pool, index: int) -> str:
        row = pool.objects[index]
        return f"{int(row.sum())} points, no three in line:\n" + "\n".join(self.picture(row)) + "\n"

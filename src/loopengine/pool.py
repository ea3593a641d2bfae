"""A batch of candidates moving through one generation: the one data type every part of the
loop (problems, kernels, selection, archive) passes around."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Pool:
    """A batch of candidates moving through one generation.

    objects: (N, W) array, the problem's own encoding (what kernels read).
    prompts: (N, P) array for conditional problems, None otherwise.
    origin:  where each candidate came from: "seed", "sample", "search", "elite".
    score / valid: filled by `Problem.evaluate` (higher score is better).
    extra: problem-specific per-row columns written to the archive (lists of length N).
    """

    objects: np.ndarray
    prompts: np.ndarray | None = None
    origin: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    score: np.ndarray | None = None
    valid: np.ndarray | None = None
    extra: dict[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.origin) != len(self.objects):
            self.origin = np.full(len(self.objects), "seed", dtype=object)

    def __len__(self) -> int:
        return len(self.objects)

    def take(self, index: np.ndarray) -> Pool:
        index = np.asarray(index, dtype=np.int64)
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return Pool(
            objects=self.objects[index],
            prompts=pick(self.prompts),
            origin=self.origin[index],
            score=pick(self.score),
            valid=pick(self.valid),
            extra={k: [v[i] for i in index] for k, v in self.extra.items()},
        )

    @staticmethod
    def concat(pools: list[Pool]) -> Pool:
        pools = [p for p in pools if len(p)]
        if not pools:
            raise ValueError("Pool.concat needs at least one non-empty pool")
        cat = lambda name: (  # noqa: E731
            None if any(getattr(p, name) is None for p in pools)
            else np.concatenate([getattr(p, name) for p in pools])
        )
        keys = set(pools[0].extra).intersection(*[p.extra for p in pools[1:]])
        return Pool(
            objects=np.concatenate([p.objects for p in pools]),
            prompts=cat("prompts"),
            origin=np.concatenate([p.origin for p in pools]),
            score=cat("score"),
            valid=cat("valid"),
            extra={k: sum((p.extra[k] for p in pools), []) for k in keys},
        )

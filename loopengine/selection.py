"""What is fed back to the model: verified, deduplicated, ranked, plus the elite archive.

Training on a model's own output degrades it unless a verifier ranks and prunes what is fed
back (Feng et al., arXiv 2406.07515). Every step here can be switched off in the task file so
its effect can be measured.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopengine.config import SelectionSettings
from loopengine.problems.base import Pool, Problem


def dedup_index(keys: list[bytes]) -> np.ndarray:
    """Index of the first occurrence of each distinct key, in order."""
    seen: set[bytes] = set()
    keep = []
    for i, k in enumerate(keys):
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def rank_index(scores: np.ndarray) -> np.ndarray:
    """Best first; ties keep their original order so selection is deterministic."""
    return np.argsort(-scores, kind="stable")


def admissible(pool: Pool, problem: Problem, settings: SelectionSettings) -> Pool:
    """Verified (if required), then unique (if required), then ranked (if required)."""
    index = np.arange(len(pool))
    if settings.verified_only:
        index = index[np.asarray(pool.valid, dtype=bool)]
    pool = pool.take(index)
    if settings.dedup and len(pool):
        pool = pool.take(dedup_index(problem.canonical_keys(pool)))
    if settings.rank and len(pool):
        pool = pool.take(rank_index(np.asarray(pool.score, dtype=np.float64)))
    return pool


@dataclass
class EliteArchive:
    """The best verified, distinct candidates ever seen, capped at `size`."""

    size: int
    pool: Pool | None = None

    def update(self, candidates: Pool, problem: Problem) -> None:
        if self.size == 0:
            return
        valid = candidates.take(np.flatnonzero(np.asarray(candidates.valid, dtype=bool)))
        merged = valid if self.pool is None else Pool.concat([self.pool, valid]) if len(valid) else self.pool
        if merged is None or not len(merged):
            return
        merged = merged.take(dedup_index(problem.canonical_keys(merged)))
        merged = merged.take(rank_index(np.asarray(merged.score, dtype=np.float64))[: self.size])
        merged.origin = np.full(len(merged), "elite", dtype=object)
        self.pool = merged

    def best_score(self) -> float | None:
        return None if self.pool is None or not len(self.pool) else float(self.pool.score[0])

    def top(self, k: int) -> Pool | None:
        if self.pool is None or k == 0:
            return None
        return self.pool.take(np.arange(min(k, len(self.pool))))


def training_set(pool: Pool, elites: EliteArchive, keep: int, settings: SelectionSettings) -> tuple[Pool | None, Pool | None]:
    """(this generation's selected rows, elite rows to replay). The elite share is replayed
    through the repeated-example sampler; the rest is fresh from this generation."""
    n_elite = int(round(keep * settings.elite_fraction)) if elites.pool is not None else 0
    fresh = pool.take(np.arange(min(len(pool), keep - n_elite))) if len(pool) else None
    return fresh, elites.top(n_elite)

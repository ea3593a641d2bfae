"""The collapse guard: what is fed back to the model, and how diverse its next samples are.

Training a model on its own output degrades it unless a verifier ranks and prunes what is fed
back (Feng et al., arXiv 2406.07515), and the first thing lost is the tail of the
distribution (Dohmatob et al., arXiv 2402.07043). So the kept set is: verified, deduplicated,
ranked rows of this generation, mixed with an archive of the best rows ever seen (replayed
through the repeated-example sampler). When the model's samples stop being distinct, the
sampling temperature goes up.

Every step can be switched off in the task file (`[selection] guard = false` switches all of
them off at once) so the guard's effect can be measured: benchmarks/collapse_ablation.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopengine.config import SamplingSettings, SelectionSettings
from loopengine.pool import Pool
from loopengine.problems.base import Problem


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
    """Best first; ties keep their original order so selection is deterministic. A NaN
    score ranks last (argsort would otherwise put it first once negated)."""
    s = np.asarray(scores, dtype=np.float64)
    return np.argsort(-np.where(np.isnan(s), -np.inf, s), kind="stable")


def valid_mask(pool: Pool) -> np.ndarray:
    """Rows the verifier accepted; a pool nobody evaluated has none."""
    if pool.valid is None:
        return np.zeros(len(pool), dtype=bool)
    return np.asarray(pool.valid, dtype=bool)


def admissible(pool: Pool, problem: Problem, settings: SelectionSettings) -> Pool:
    """Verified (if required), then unique (if required), then ranked (if required).
    With every step off this is the pool as it came: raw, unverified, in sampling order."""
    index = np.arange(len(pool))
    if settings.verified_only:
        index = index[valid_mask(pool)]
    pool = pool.take(index)
    if settings.dedup and len(pool):
        pool = pool.take(dedup_index(problem.canonical_keys(pool)))
    if settings.rank and len(pool):
        pool = pool.take(rank_index(pool.score))
    return pool


@dataclass
class EliteArchive:
    """The best verified, distinct candidates ever seen, capped at `size`, best first.

    Only verified rows ever enter, whatever the selection switches say: the archive also
    defines the run's best-ever score, which must be a proven one. Because the new archive
    is the top of (old archive + new rows), its best score never decreases."""

    size: int
    pool: Pool | None = None

    def update(self, candidates: Pool, problem: Problem) -> np.ndarray:
        """Merge the verified candidates in; returns the indices (into `candidates`) of the
        rows that entered the archive (what the start sources are credited for)."""
        none = np.zeros(0, dtype=np.int64)
        if self.size == 0:
            return none
        rows = np.flatnonzero(valid_mask(candidates))
        valid = candidates.take(rows)
        parts = [p for p in (self.pool, valid) if p is not None and len(p)]
        if not parts:
            return none
        old = len(self)
        merged = Pool.concat(parts)
        # old elites come first, so a re-found duplicate keeps its elite row
        keep = dedup_index(problem.canonical_keys(merged))
        keep = keep[rank_index(merged.score[keep])[: self.size]]
        merged = merged.take(keep)
        merged.origin = np.full(len(merged), "elite", dtype=object)
        self.pool = merged
        return rows[keep[keep >= old] - old]

    def __len__(self) -> int:
        return 0 if self.pool is None else len(self.pool)

    def best_score(self) -> float | None:
        return float(self.pool.score[0]) if len(self) else None

    def top(self, k: int) -> Pool | None:
        if not len(self) or k <= 0:
            return None
        return self.pool.take(np.arange(min(k, len(self))))


def training_set(pool: Pool, elites: EliteArchive, keep: int, settings: SelectionSettings,
                 problem: Problem) -> tuple[Pool | None, Pool | None]:
    """(this generation's rows, elite rows to replay), `keep` rows in all. The elite share is
    replayed through the repeated-example sampler; the rest is the head of `pool` (the best
    rows when ranking is on, the first sampled ones when it is off). With dedup on, a row
    already replayed as an elite is not taken twice (early on the two sets coincide)."""
    n_elite = min(int(round(keep * settings.elite_fraction)), len(elites))
    replay = elites.top(n_elite)
    if settings.dedup and replay is not None and len(pool):
        replayed = set(problem.canonical_keys(replay))
        pool = pool.take(np.array([i for i, k in enumerate(problem.canonical_keys(pool)) if k not in replayed],
                                  dtype=np.int64))
    fresh = pool.take(np.arange(min(len(pool), keep - n_elite))) if len(pool) else None
    return fresh, replay


def next_temperature(current: float, unique_fraction: float, settings: SamplingSettings) -> float:
    """Diversity control: too few distinct samples -> one step hotter, never above the cap
    (and never cooler: the cap only stops the rise)."""
    if settings.min_unique_fraction <= 0 or unique_fraction >= settings.min_unique_fraction:
        return current
    return max(current, min(settings.max_temperature, current + settings.temperature_step))

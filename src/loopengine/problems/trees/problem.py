"""Trees whose independence sequence is not log-concave: a rare-event search.

For a tree on n vertices with s_k independent sets of size k, a counterexample (to the
log-concavity of independence sequences of trees) has some k with s_k^2 < s_(k-1) s_(k+1),
a "break" at k. The smallest ones have 26 vertices (Kadrawi, Levit, Yosef and Mizrachi found
exactly two there; Kadrawi & Levit, arXiv 2305.01784); PatternBoost found tens of thousands
on 27..101 vertices (Ramos & Sun, arXiv 2510.18826).

Objects: int32 rows of width n, the parent array of a recursive labelling (row[0] = -1,
0 <= row[i] < i); every such row is a tree. The kernel (csrc/src/trees.cpp) returns each tree
relabelled canonically: breadth-first from its centre, children in AHU-code order, so equal
rows are isomorphic trees and the parent sequence never decreases.

Score: r_k = s_(k-1) s_(k+1) / s_k^2 - 1 is positive exactly at a break; the score is the
largest r_k over the last `tail` indices k = alpha - tail .. alpha - 1 (tail = 0: every k),
or its `breaks`-th largest to aim at that many breaks. Why tail = 1 by default: with every k
counted, annealing at n = 26 climbed to trees whose largest r_k sits mid-sequence at about
-0.15 and found no break, while the last index alone (where the first known families break)
found both 26-vertex counterexamples within seconds (docs/trees.md). Breaks are counted at
every k whatever the score looks at. The sign of every r_k is decided in exact 256-bit
arithmetic, and every row the C++ calls a counterexample is rechecked here with Python
integers before it is reported.

Tokens: the n - 1 parents p_1..p_(n-1) of the canonical labelling, one token per vertex, a
vocabulary of n - 1 labels. Why this and not a Prüfer code (Ramos & Sun's choice): the
canonical spelling is unique per tree, so the model never spends capacity on n!-fold
relabellings, position i always means "vertex i in breadth-first order", and the structure
that makes these trees break (a centre, a few hubs, many pendant paths) reads as runs of equal
parents. Constrained decoding (decoding.py) keeps every sample a tree in that same form.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from loopengine import _core
from loopengine.pool import Pool
from loopengine.problems.base import Problem, ProblemSettings
from loopengine.problems.codecs import Codec
from loopengine.problems.trees.decoding import TreeDecoding
from loopengine.problems.trees.sequence import (
    break_positions,
    graph6,
    independence_sequence,
    random_prufer,
    random_recursive,
)

INVALID_SCORE = -2.0  # below any tree's score (r_k >= -1)


class TreesSettings(ProblemSettings):
    n: int = Field(26, ge=3, le=128, description="number of vertices (exact 128-bit counts hold up to 128)")
    tail: int = Field(1, ge=0, description="score only the last `tail` indices k = alpha-tail..alpha-1 "
                                           "(0 = every k); set the kernel's `tail` param to match")
    breaks: int = Field(1, ge=1, description="score = the breaks-th largest r_k: positive iff at least that "
                                             "many breaks among the scored indices; set the kernel's too")
    prufer_fraction: float = Field(0.5, ge=0, le=1, description="random starts: share of uniform labelled trees "
                                                                 "(Prüfer); the rest are random recursive trees")
    constrained_decoding: bool = Field(True, description="samples are canonical-form trees (decoding.py)")


class ParentCodec(Codec):
    """A tree as the n - 1 parents of its canonical labelling, one token per vertex (the module
    docstring says why)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def vocabulary(self) -> list[str]:
        return [str(j) for j in range(self.n - 1)]

    def max_answer_tokens(self) -> int:
        return self.n - 1

    def encode(self, pool: Pool) -> list[list[int]]:
        return [row[1:].tolist() for row in np.asarray(pool.objects)]

    def decode(self, tokens: list[list[int]], prompts=None) -> Pool:
        """A short sample keeps its missing parents at n (invalid; the kernel mends them)."""
        objects = np.full((len(tokens), self.n), self.n, dtype=np.int32)
        objects[:, 0] = -1
        for row, toks in enumerate(tokens):
            parents = [t if 0 <= t < self.n - 1 else self.n for t in toks[: self.n - 1]]
            objects[row, 1:1 + len(parents)] = parents
        return Pool(objects=objects, origin=np.full(len(tokens), "sample", dtype=object))


class Trees(Problem):
    """Trees whose independence sequence is not log-concave (a rare event)."""

    name = "trees"
    Settings = TreesSettings
    default_kernel = "trees"
    kernels = {"trees": "loopengine._core:trees_search"}

    def __init__(self, settings: TreesSettings, task_dir=None) -> None:
        super().__init__(settings, task_dir)
        self.n = settings.n
        self.codec = ParentCodec(self.n)

    def headline(self, summary: dict) -> str | None:
        """"a break found: best r_k = +0.0123, n = 26" (r_k > 0 is a counterexample)."""
        best = summary.get("best_ever")
        if best is None:
            return f"no tree scored yet, n = {self.n}"
        found = "a break found" if best > 0 else "no break yet"
        return f"{found}: best r_k = {best:+.4g}, n = {self.n}"

    def decoding_constraint(self) -> TreeDecoding | None:
        return TreeDecoding(self.n) if self.settings.constrained_decoding else None

    # ---- data ---------------------------------------------------------------------------
    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        prufer = rng.random(size) < self.settings.prufer_fraction
        rows = [random_prufer(rng, self.n) if p else random_recursive(rng, self.n) for p in prufer]
        objects = np.stack(rows) if rows else np.zeros((0, self.n), dtype=np.int32)
        return Pool(objects=objects, origin=np.full(size, "seed", dtype=object))

    # ---- judging ------------------------------------------------------------------------
    def scored(self, objects: np.ndarray, threads: int = 0):
        """(score, break count, break mask (rows x n+1), valid) from the C++ scorer."""
        return _core.trees_score(np.ascontiguousarray(objects, dtype=np.int32), self.settings.breaks,
                                 self.settings.tail, threads)

    def evaluate(self, pool: Pool, threads: int = 0) -> Pool:
        score, count, mask, valid = self.scored(pool.objects, threads)
        for r in np.flatnonzero(count > 0):  # a claimed counterexample is rechecked in Python integers
            exact = break_positions(independence_sequence(pool.objects[r]))
            if exact != np.flatnonzero(mask[r]).tolist():
                raise RuntimeError(f"trees: the C++ scorer found breaks {np.flatnonzero(mask[r]).tolist()} but "
                                   f"Python integers find {exact} for parents {pool.objects[r].tolist()}")
        pool.valid = np.asarray(valid, dtype=bool)
        pool.score = np.where(pool.valid, score, INVALID_SCORE).astype(np.float64)
        return pool

    def hits(self, pool: Pool) -> np.ndarray:
        """Counterexamples: trees with at least `breaks` breaks (at any k)."""
        _, count, _, valid = self.scored(pool.objects)
        return np.asarray(valid, dtype=bool) & (np.asarray(count) >= self.settings.breaks)

    def canonical_keys(self, pool: Pool) -> list[bytes]:
        objects = np.ascontiguousarray(pool.objects, dtype=np.int32)
        _, _, _, valid = self.scored(objects)
        keys = [b"x" + row.tobytes() for row in objects]  # an invalid row is only itself
        if valid.any():
            canon = _core.trees_canonical(objects[valid])
            for i, row in zip(np.flatnonzero(valid), canon):
                keys[i] = row.tobytes()
        return keys

    def human_columns(self, pool: Pool) -> dict[str, list]:
        _, count, mask, valid = self.scored(pool.objects)
        return {
            "graph6": [graph6(row) if ok else "" for row, ok in zip(pool.objects, valid)],
            "breaks": [int(c) for c in count],
            "break_at": [",".join(str(k) for k in np.flatnonzero(m)) for m in mask],
        }

    def describe_best(self, pool: Pool, index: int) -> str:
        row = pool.objects[index]
        seq = independence_sequence(row)
        return (f"graph6: {graph6(row)}\nparents: {' '.join(map(str, row.tolist()))}\n"
                f"independence sequence: {' '.join(map(str, seq))}\n"
                f"breaks at k = {break_positions(seq)} (s_k^2 < s_(k-1) s_(k+1))\n")

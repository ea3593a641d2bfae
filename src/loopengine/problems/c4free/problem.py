"""Graphs on n vertices with no 4-cycle and as many edges as possible (PatternBoost's flagship).

Encoding for the model: one token per edge, edges listed in increasing pair order (a SubsetCodec
over the vertex pairs, problems/codecs.py).
Why not the n(n-1)/2 adjacency bits PatternBoost used: a maximal C4-free graph has about
n^1.5 / 2 edges, so an edge list is 4-5x shorter at n = 30 and sampling (the loop's costliest
model step on a CPU) is that much cheaper. `encoding = "bits"` is PatternBoost's encoding, as an
option: measured no better at n = 40, for 10x the training time (decoding.py).

Why constrained decoding (on by default, `constrained_decoding`): unconstrained, a small
model trained on ~125-edge graphs at n = 40 emitted 21-30 edges and 99% of its samples held
a 4-cycle, so local search rebuilt them from scratch and they were random starts in
disguise. With the mask of decoding.py the model only chooses *which* legal edge comes next
and may not stop while one is left: every raw sample is C4-free and maximal, and what the
model learnt shows in which maximal graph it builds (measured by
benchmarks/model_vs_random_starts.py). The encoding stays the edge list, so the mask is a
per-token rule and training is unchanged.

Dedup and novelty use nauty's canonical form (canonical.py): relabelled copies of a graph
are one candidate. Objects (what kernels read): the upper-triangle edge indicator, uint8 of
width n(n-1)/2; the C++ kernel handles n <= 128.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal

import networkx as nx
import numpy as np
from pydantic import Field

from loopengine.errors import ConfigError
from loopengine.pool import Pool
from loopengine.problems.base import Problem, ProblemSettings
from loopengine.problems.c4free import curriculum
from loopengine.problems.c4free.canonical import canonical_graph_keys
from loopengine.problems.c4free.decoding import C4BitDecoding, C4Decoding
from loopengine.problems.c4free.ordering import bfs_relabelled
from loopengine.problems.codecs import BitCodec, SubsetCodec

# OEIS A006855: ex(n; C4), maximum edges in a C4-free graph on n vertices, n = 1..40.
EX_C4 = [0, 1, 3, 4, 6, 7, 9, 11, 13, 16, 18, 21, 24, 27, 30, 33, 36, 39, 42, 46, 50, 52, 56, 59, 63,
         67, 71, 76, 80, 85, 90, 92, 96, 102, 106, 110, 113, 117, 122, 127]


# Beyond n = 40 ex(n; C4) is open; these are the lower bounds OEIS A006855 lists for
# n = 41..49 (Brendan McKay, 2022: "a good chance of being exact"). A run there aims at them.
LOWER_BOUNDS_C4 = {41: 132, 42: 137, 43: 142, 44: 148, 45: 154, 46: 157, 47: 163, 48: 168, 49: 174}


def best_known_edges(n: int) -> int | None:
    """ex(n; C4) for n <= 40, the best known lower bound for n = 41..49, else None."""
    if 1 <= n <= len(EX_C4):
        return EX_C4[n - 1]
    return LOWER_BOUNDS_C4.get(n)


def pair_index(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def adjacency_matrices(objects: np.ndarray, n: int) -> np.ndarray:
    """(N, n(n-1)/2) indicators -> (N, n, n) symmetric 0/1 matrices."""
    iu = np.triu_indices(n, k=1)
    adj = np.zeros((len(objects), n, n), dtype=np.int32)
    adj[:, iu[0], iu[1]] = objects
    return adj + adj.transpose(0, 2, 1)


def c4_free_mask(objects: np.ndarray, n: int) -> np.ndarray:
    """Independent verifier (shares no code with the C++ kernel): a graph has a 4-cycle
    iff two distinct vertices have two common neighbours, i.e. an off-diagonal entry of
    A^2 exceeds 1."""
    if len(objects) == 0:
        return np.zeros(0, dtype=bool)
    adj = adjacency_matrices(objects, n)
    common = adj @ adj
    idx = np.arange(n)
    common[:, idx, idx] = 0
    return common.reshape(len(objects), -1).max(axis=1, initial=0) <= 1


def graph6(row: np.ndarray, n: int) -> str:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(p for p, bit in zip(pair_index(n), row) if bit)
    return nx.to_graph6_bytes(graph, header=False).decode().strip()


class C4FreeSettings(ProblemSettings):
    n: int = Field(20, ge=1, le=128, description="number of vertices (the C++ bitsets hold up to 128)")
    start_density_max: float = Field(0.3, ge=0, le=1, description="random starts: edge density drawn in [0, this]")
    constrained_decoding: bool = Field(True, description="samples may only add edges closing no 4-cycle, "
                                                         "and end only when none is left (decoding.py)")
    sorted_decoding: bool = Field(False, description="edge encoding with constrained_decoding: edges only in "
                                                     "increasing pair order, as training sequences list them "
                                                     "(measured worse; decoding.py)")
    encoding: Literal["edges", "bits"] = Field("edges", description="model tokens: one per edge, or one bit per "
                                                                     "vertex pair in pair order (decoding.py)")
    seed_from: str | None = Field(None, description="size curriculum: a run directory at a smaller n whose best "
                                                     "graphs (plus isolated vertices) start generation 0")
    seed_count: int = Field(100, ge=1, description="size curriculum: distinct best graphs taken from seed_from")
    vertex_order: Literal["given", "bfs"] = Field("given", description="labels the model trains on: as found, or "
                                                                       "breadth-first from a top-degree vertex "
                                                                       "(ordering.py)")


class C4Free(Problem):
    """Graphs on n vertices with no 4-cycle and as many edges as possible."""

    name = "c4free"
    Settings = C4FreeSettings
    default_kernel = "c4free"
    kernels = {"c4free": "loopengine._core:c4free_batch"}
    best_file_suffix = "g6"

    def __init__(self, settings: C4FreeSettings, task_dir=None) -> None:
        super().__init__(settings, task_dir)
        self.n = settings.n
        self.pairs = self.n * (self.n - 1) // 2
        relabel = functools.partial(bfs_relabelled, n=self.n) if settings.vertex_order == "bfs" else None
        if settings.encoding == "bits":
            self.codec = BitCodec(self.pairs, relabel=relabel)
        else:  # room for 25% more edges than the best known graph: samples stay short
            known = best_known_edges(self.n) or int(0.5 * self.n**1.5 + self.n)
            cap = max(1, min(self.pairs, math.ceil(1.25 * known) + 2))
            self.codec = SubsetCodec([f"{i}-{j}" for i, j in pair_index(self.n)], cap, relabel=relabel)
        self._curriculum: tuple[np.ndarray, int] | None = None  # (best seed graphs, their n)

    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        if self.settings.seed_from is not None:
            return self.curriculum_pool(rng, size)
        return self.random_pool(rng, size)

    def random_pool(self, rng: np.random.Generator, size: int) -> Pool:
        density = rng.uniform(0, self.settings.start_density_max, size=(size, 1))
        objects = (rng.random((size, self.pairs)) < density).astype(np.uint8)
        return Pool(objects=objects, origin=np.full(size, "seed", dtype=object))

    def search_starts(self, rng: np.random.Generator, size: int, prompts=None) -> Pool:
        return self.random_pool(rng, size)  # random even with seed_from: the curriculum is its own source

    def has_curriculum(self) -> bool:
        return self.settings.seed_from is not None

    def curriculum_starts(self, rng: np.random.Generator, size: int, prompts=None) -> Pool:
        return self.curriculum_pool(rng, size)

    def curriculum_pool(self, rng: np.random.Generator, size: int) -> Pool:
        """`size` starts cycling through the best distinct graphs of the seed_from run,
        each embedded with isolated new vertices (local search connects them)."""
        if self._curriculum is None:  # read (and verified) once: the run's data do not change under us
            self._curriculum = self.curriculum_seeds()
        best, m = self._curriculum
        starts = curriculum.embed(best, m, self.n)[np.arange(size) % len(best)]
        return Pool(objects=starts, origin=np.full(size, "seed", dtype=object))

    def curriculum_seeds(self) -> tuple[np.ndarray, int]:
        source = Path(self.settings.seed_from)
        objects, m = curriculum.read_run_graphs(source)
        if m >= self.n:
            raise ConfigError(source, curriculum.KEY, f"a run at fewer vertices than n = {self.n} (it has {m})")
        objects = objects[c4_free_mask(objects, m)]  # never trust a stored verdict
        if not len(objects):
            raise ConfigError(source, curriculum.KEY, "a run with at least one valid graph")
        return curriculum.best_distinct(objects, canonical_graph_keys(objects, m), self.settings.seed_count), m

    def canonical_keys(self, pool: Pool) -> list[bytes]:
        return canonical_graph_keys(pool.objects, self.n)

    def decoding_constraint(self) -> C4Decoding | C4BitDecoding | None:
        if not self.settings.constrained_decoding:
            return None
        if self.settings.encoding == "bits":
            return C4BitDecoding(self.n)
        return C4Decoding(self.n, sorted_order=self.settings.sorted_decoding)

    def evaluate(self, pool: Pool, threads: int = 0) -> Pool:
        pool.valid = c4_free_mask(pool.objects, self.n)
        pool.score = pool.objects.sum(axis=1).astype(np.float64)
        return pool

    def human_columns(self, pool: Pool) -> dict[str, list]:
        return {"graph6": [graph6(row, self.n) for row in pool.objects]}

    def best_known(self) -> float | None:
        known = best_known_edges(self.n)
        return None if known is None else float(known)

    def describe_best(self, pool: Pool, index: int) -> str:
        return graph6(pool.objects[index], self.n) + "\n"

    def headline(self, summary: dict) -> str | None:
        """"127/127 edges, n = 40" (the best graph's edges / the best known count)."""
        best, known = summary.get("best_ever"), summary.get("best_known")
        if best is None:
            return f"no C4-free graph yet, n = {self.n}"
        return f"{int(best)}" + ("" if known is None else f"/{int(known)}") + f" edges, n = {self.n}"


"""A vertex order the model can learn from: breadth-first from a vertex of largest degree.

Training graphs come out of local search with arbitrary labels, so two graphs of one shape
look unrelated as edge lists, and a small model trained on a few hundred of them learns
little more than "about n^0.5 edges per vertex" (its raw samples stayed ~17 edges below the
training graphs at n = 40, benchmarks/results/model_vs_random_starts.md). Relabelled
breadth-first, every C4-free graph shares a visible skeleton: vertex 0 is adjacent to
1..d, and (no two vertices share two neighbours) the other neighbours of 1, of 2, ... are
disjoint consecutive blocks. The sorted edge list then starts with that skeleton, and only
the edges between the blocks are left to learn.

Ties (equal degree) keep the given label order, so the order is deterministic for a given
labelling; it is not a canonical form (nauty's, canonical.py, serves dedup).
"""
from __future__ import annotations

import numpy as np


def neighbour_lists(row: np.ndarray, n: int) -> list[list[int]]:
    adj = np.zeros((n, n), dtype=bool)
    iu, ju = np.triu_indices(n, k=1)
    adj[iu, ju] = row.astype(bool)
    adj |= adj.T
    return [np.flatnonzero(adj[v]).tolist() for v in range(n)]


def bfs_order(row: np.ndarray, n: int) -> list[int]:
    """Old labels in their new order: each component breadth-first from its vertex of
    largest degree, a vertex's unvisited neighbours queued by decreasing degree."""
    nbrs = neighbour_lists(row, n)
    degree = [len(a) for a in nbrs]
    by_degree = sorted(range(n), key=lambda v: -degree[v])  # stable: ties keep label order
    order: list[int] = []
    placed = [False] * n
    for root in by_degree:
        if placed[root]:
            continue
        placed[root] = True
        queue = [root]
        for v in queue:  # the list grows while it is read: breadth-first
            fresh = sorted((u for u in nbrs[v] if not placed[u]), key=lambda u: -degree[u])
            for u in fresh:
                placed[u] = True
            queue.extend(fresh)
        order.extend(queue)
    return order


def relabel(row: np.ndarray, n: int, order: list[int]) -> np.ndarray:
    """The same graph with old vertex order[k] renamed k (upper-triangle indicators)."""
    adj = np.zeros((n, n), dtype=np.uint8)
    iu, ju = np.triu_indices(n, k=1)
    adj[iu, ju] = row
    adj |= adj.T
    perm = np.asarray(order)
    return adj[np.ix_(perm, perm)][iu, ju]


def bfs_relabelled(objects: np.ndarray, n: int) -> np.ndarray:
    """Every row relabelled in its own breadth-first order."""
    return np.stack([relabel(row, n, bfs_order(row, n)) for row in objects]) if len(objects) else objects

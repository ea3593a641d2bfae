"""Breadth-first vertex order for the model's training graphs (problems/c4free/ordering.py)."""
from __future__ import annotations

import numpy as np

from loopengine import _core
from loopengine.pool import Pool
from loopengine.problems.c4free.canonical import canonical_graph_keys
from loopengine.problems.c4free.ordering import bfs_order, bfs_relabelled, relabel
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings, adjacency_matrices


def searched_graphs(n: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    start = (rng.random((count, n * (n - 1) // 2)) < 0.2).astype(np.uint8)
    return _core.c4_local_search(start, seed, 1, 0, 200)


def test_bfs_relabelling_keeps_the_graph_and_shows_the_skeleton():
    n = 30
    graphs = searched_graphs(n, 8, seed=3)
    relabelled = bfs_relabelled(graphs, n)
    assert canonical_graph_keys(graphs, n) == canonical_graph_keys(relabelled, n)  # same graphs
    for row in relabelled:
        adj = adjacency_matrices(row[None], n)[0]
        degree = adj.sum(axis=1)
        d = int(degree[0])
        assert d == degree.max()  # vertex 0 has the largest degree ...
        assert set(np.flatnonzero(adj[0])) == set(range(1, d + 1))  # ... and neighbours 1..d
        # vertex 1's neighbours outside N[0] are the next labels, in one block
        block = sorted(v for v in np.flatnonzero(adj[1]) if v > d)
        assert block == list(range(d + 1, d + 1 + len(block)))
        assert (row == bfs_relabelled(row[None], n)[0]).all()  # the order of a BFS-labelled graph is itself


def test_bfs_order_is_a_permutation_also_with_isolated_vertices():
    n = 12
    row = np.zeros(n * (n - 1) // 2, dtype=np.uint8)
    row[[0, 1, 14]] = 1  # edges 0-1, 0-2, 1-5: vertices 3, 4, 6.. isolated
    order = bfs_order(row, n)
    assert sorted(order) == list(range(n))
    assert order[:4] == [0, 1, 2, 5]
    perm = np.random.default_rng(0).permutation(n)
    moved = relabel(row, n, perm)
    assert moved.sum() == 3
    assert canonical_graph_keys(moved[None], n) == canonical_graph_keys(row[None], n)


def test_problem_encodes_in_the_order_its_settings_name():
    n = 20
    graphs = searched_graphs(n, 4, seed=5)
    given = C4Free(C4FreeSettings(n=n))
    bfs = C4Free(C4FreeSettings(n=n, vertex_order="bfs"))
    assert given.codec.encode(Pool(objects=graphs)) == [np.flatnonzero(r).tolist() for r in graphs]
    tokens = bfs.codec.encode(Pool(objects=graphs))
    assert tokens == [np.flatnonzero(r).tolist() for r in bfs_relabelled(graphs, n)]
    assert tokens != given.codec.encode(Pool(objects=graphs))
    decoded = bfs.codec.decode(tokens).objects  # what the model learns decodes to the same graphs
    assert canonical_graph_keys(decoded, n) == canonical_graph_keys(graphs, n)

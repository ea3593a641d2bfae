"""Isomorphism-invariant dedup keys for C4-free graphs."""
from __future__ import annotations

import networkx as nx
import numpy as np

from loopengine import _core
from loopengine.pool import Pool
from loopengine.problems.c4free.canonical import canonical_graph_keys
from loopengine.problems.c4free.ordering import relabel
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings
from loopengine.selection import dedup_index


def searched_graphs(n: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    start = (rng.random((count, n * (n - 1) // 2)) < 0.2).astype(np.uint8)
    return _core.c4_local_search(start, seed, 1)


def test_relabelled_copies_share_a_key_and_others_do_not():
    n = 22
    graphs = searched_graphs(n, 30, seed=1)
    rng = np.random.default_rng(2)
    copies = np.array([relabel(g, n, rng.permutation(n)) for g in graphs])
    assert not np.array_equal(copies, graphs)  # the labelled encodings differ...
    assert canonical_graph_keys(copies, n) == canonical_graph_keys(graphs, n)  # ...the keys do not
    # distinct keys exactly for non-isomorphic pairs, as networkx's exact test says
    keys = canonical_graph_keys(graphs, n)
    iu, ju = np.triu_indices(n, k=1)
    as_nx = []
    for row in graphs:
        g = nx.empty_graph(n)
        g.add_edges_from(zip(iu[row == 1].tolist(), ju[row == 1].tolist()))
        as_nx.append(g)
    for a in range(len(graphs)):
        for b in range(a + 1, len(graphs)):
            if graphs[a].sum() == graphs[b].sum():  # other pairs differ in edge count anyway
                assert (keys[a] == keys[b]) == nx.is_isomorphic(as_nx[a], as_nx[b])
    assert len(set(keys)) > 20


def test_problem_dedup_collapses_relabellings():
    n = 16
    problem = C4Free(C4FreeSettings(n=n))
    base = searched_graphs(n, 3, seed=3)
    rng = np.random.default_rng(4)
    rows = [relabel(base[i % 3], n, rng.permutation(n)) for i in range(12)]
    pool = Pool(objects=np.array(rows, dtype=np.uint8))
    keys = problem.canonical_keys(pool)
    assert len(dedup_index(keys)) == len(set(canonical_graph_keys(base, n)))
    # same edge count, different structure: a path and a star on 4 edges are not merged
    path, star = np.zeros(n * (n - 1) // 2, np.uint8), np.zeros(n * (n - 1) // 2, np.uint8)
    index = {p: k for k, p in enumerate(zip(*np.triu_indices(n, k=1)))}
    for e in [(0, 1), (1, 2), (2, 3), (3, 4)]:
        path[index[e]] = 1
    for e in [(0, 1), (0, 2), (0, 3), (0, 4)]:
        star[index[e]] = 1
    two = problem.canonical_keys(Pool(objects=np.array([path, star])))
    assert two[0] != two[1]

"""Isomorphism-invariant keys for graphs, so dedup and novelty count graphs, not labellings.

The key is nauty's canonical certificate (pynauty): two graphs on n vertices get the same
certificate exactly when they are isomorphic. Without it, every relabelling of one extremal
graph (n! of them) would count as a new, unique, novel candidate.
"""
from __future__ import annotations

import numpy as np
import pynauty


def adjacency_lists(row: np.ndarray, n: int, iu: np.ndarray, ju: np.ndarray) -> dict[int, list[int]]:
    edges = np.flatnonzero(row)
    lists: dict[int, list[int]] = {v: [] for v in range(n)}
    for i, j in zip(iu[edges].tolist(), ju[edges].tolist()):
        lists[i].append(j)
    return lists


def canonical_graph_keys(objects: np.ndarray, n: int) -> list[bytes]:
    """One key per row of upper-triangle edge indicators: the vertex count, then nauty's
    canonical certificate (a packed adjacency matrix of the canonically relabelled graph)."""
    if n == 0:
        return [b"0|" for _ in range(len(objects))]
    iu, ju = np.triu_indices(n, k=1)
    prefix = f"{n}|".encode()
    keys = []
    for row in np.asarray(objects):
        graph = pynauty.Graph(n, directed=False, adjacency_dict=adjacency_lists(row, n, iu, ju))
        keys.append(prefix + pynauty.certificate(graph))
    return keys

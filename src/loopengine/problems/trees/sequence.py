"""Trees as recursive parent arrays, in plain Python: the independent check of the C++ scores,
random starts, and graph6 text.

A tree on n vertices is a row `parent` with parent[0] = -1 and 0 <= parent[i] < i. Every such
row is a tree and every tree has such labellings (any breadth-first order from any vertex).
"""
from __future__ import annotations

import heapq

import networkx as nx
import numpy as np


def is_recursive_parent_array(row) -> bool:
    row = [int(x) for x in row]
    return len(row) >= 1 and row[0] == -1 and all(0 <= p < i for i, p in enumerate(row) if i)


def independence_sequence(parent) -> list[int]:
    """s_0..s_alpha with Python integers (no overflow at any n), by the tree DP:
    with[v] / without[v] count the independent sets of v's subtree containing / missing v."""
    parent = [int(x) for x in parent]
    n = len(parent)
    children: list[list[int]] = [[] for _ in range(n)]
    for i in range(1, n):
        children[parent[i]].append(i)
    with_v: list[list[int]] = [[] for _ in range(n)]
    without_v: list[list[int]] = [[] for _ in range(n)]
    for v in range(n - 1, -1, -1):  # children have larger labels: they are done first
        inside, outside = [0, 1], [1]
        for c in children[v]:
            total = [a + b for a, b in _padded(with_v[c], without_v[c])]
            outside = _convolve(outside, total)
            inside = _convolve(inside, without_v[c])
        with_v[v], without_v[v] = inside, outside
    seq = [a + b for a, b in _padded(with_v[0], without_v[0])]
    while len(seq) > 1 and seq[-1] == 0:
        seq.pop()
    return seq


def _padded(a: list[int], b: list[int]):
    m = max(len(a), len(b))
    return zip(a + [0] * (m - len(a)), b + [0] * (m - len(b)))


def _convolve(a: list[int], b: list[int]) -> list[int]:
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def break_positions(seq: list[int]) -> list[int]:
    """Every k with s_k^2 < s_(k-1) s_(k+1), in exact integers."""
    return [k for k in range(1, len(seq) - 1) if seq[k] * seq[k] < seq[k - 1] * seq[k + 1]]


def random_recursive(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random recursive tree: vertex i picks its parent uniformly among 0..i-1 (short, bushy)."""
    row = np.empty(n, dtype=np.int32)
    row[0] = -1
    if n > 1:
        row[1:] = (rng.random(n - 1) * np.arange(1, n)).astype(np.int32)
    return row


def random_prufer(rng: np.random.Generator, n: int) -> np.ndarray:
    """A uniformly random labelled tree (a random Prüfer sequence; long, path-like), relabelled
    breadth-first from vertex 0 into a recursive parent array."""
    if n <= 2:
        return random_recursive(rng, n)
    code = rng.integers(0, n, size=n - 2).tolist()
    degree = [1] * n
    for x in code:
        degree[x] += 1
    leaves = [v for v in range(n) if degree[v] == 1]
    heapq.heapify(leaves)
    adj: list[list[int]] = [[] for _ in range(n)]
    for x in code:
        leaf = heapq.heappop(leaves)
        adj[leaf].append(x), adj[x].append(leaf)
        degree[x] -= 1
        if degree[x] == 1:
            heapq.heappush(leaves, x)
    u, v = leaves
    adj[u].append(v), adj[v].append(u)
    return bfs_parent_array(adj, 0)


def bfs_parent_array(adj: list[list[int]], root: int) -> np.ndarray:
    n = len(adj)
    label = [-1] * n
    label[root] = 0
    row = np.empty(n, dtype=np.int32)
    row[0] = -1
    queue = [root]
    for v in queue:
        for c in adj[v]:
            if label[c] < 0:
                label[c] = len(queue)
                row[len(queue)] = label[v]
                queue.append(c)
    return row


def to_networkx(parent) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(len(parent)))
    graph.add_edges_from((i, int(p)) for i, p in enumerate(parent) if i)
    return graph


def graph6(parent) -> str:
    return nx.to_graph6_bytes(to_networkx(parent), header=False).decode().strip()

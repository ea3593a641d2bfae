"""The C4-free kernel: C4-free and maximal output, determinism, the iterated search, and the
best-known table. Every check of the kernel's output uses code that shares nothing with it."""
from __future__ import annotations

import importlib.util
import itertools

import networkx as nx
import numpy as np
import pytest

from conftest import ROOT
from loopengine import _core
from loopengine.config import load_task
from loopengine.kernels.resolve import resolve_kernel
from loopengine.problems.c4free.problem import EX_C4, adjacency_matrices, best_known_edges, c4_free_mask


def random_graphs(n: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, n])
    density = rng.uniform(0, 0.6, size=(count, 1))
    return (rng.random((count, n * (n - 1) // 2)) < density).astype(np.uint8)


def is_maximal(objects: np.ndarray, n: int) -> np.ndarray:
    """Adding a non-edge uv closes a 4-cycle iff a path u-a-b-v exists, i.e. (A^3)[u, v] > 0
    (no walk of length 3 between non-adjacent u, v can repeat a vertex)."""
    adj = adjacency_matrices(objects, n).astype(np.int64)
    walks3 = adj @ adj @ adj
    non_edge = (adj == 0) & ~np.eye(n, dtype=bool)
    return ~np.any(non_edge & (walks3 == 0), axis=(1, 2))


def networkx_has_c4(row: np.ndarray, n: int) -> bool:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(p for p, bit in zip(itertools.combinations(range(n), 2), row) if bit)
    return any(len(c) == 4 for c in nx.simple_cycles(graph, length_bound=4))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9, 16, 27, 40, 63, 64, 65, 90, 127, 128])
def test_output_is_c4_free_and_maximal(n):
    start = random_graphs(n, 60 if n < 40 else 12, seed=1)
    out = _core.c4_local_search(start, seed=11, threads=2)
    assert out.shape == start.shape
    assert out.dtype == np.uint8
    assert c4_free_mask(out, n).all()
    assert is_maximal(out, n).all()
    if n >= 2:  # the checker itself can say no: drop an edge from a maximal graph
        first_edge = out.argmax(axis=1)
        fewer = out.copy()
        fewer[np.arange(len(out)), first_edge] = 0
        assert not is_maximal(fewer, n).any()


def test_tiny_graphs_have_their_only_answers():
    assert _core.c4_local_search(np.zeros((3, 0), np.uint8), 0).shape == (3, 0)  # n = 1
    assert (_core.c4_local_search(np.zeros((2, 1), np.uint8), 0) == 1).all()    # n = 2: the edge
    assert (_core.c4_local_search(random_graphs(3, 8, 0), 0) == 1).all()        # n = 3: the triangle
    # n = 4: K4 has three 4-cycles; the best C4-free graphs have 4 edges (triangle + pendant)
    out = _core.c4_local_search(np.ones((20, 6), np.uint8), 5)
    assert (out.sum(axis=1) == EX_C4[3]).all()


PARAMS = [{}, {"kick": 3}, {"rounds": 40, "round_kick": 2}, {"kick": 2, "rounds": 20, "round_kick": 4},
          {"rounds": 60, "round_kick": 1, "tabu": 5}, {"rounds": 60, "round_kick": 2, "tabu": 3, "accept_worse": 0.3}]


@pytest.mark.parametrize("params", PARAMS)
def test_every_parameter_combination_keeps_the_contract(params):
    n = 18
    start = random_graphs(n, 40, seed=2)
    out = _core.c4_local_search(start, 5, 2, **params)
    assert c4_free_mask(out, n).all()
    assert is_maximal(out, n).all()


@pytest.mark.parametrize("n", [64, 65, 100, 128])
@pytest.mark.parametrize("params", PARAMS[2:])
def test_iterated_search_stays_c4_free_and_maximal_on_wide_bitsets(n, params):
    # the rounds regrow only the pairs a kick freed, and tabu skips some: the final graph
    # must still be maximal, which the independent A^3 check would catch
    start = random_graphs(n, 3, seed=12)
    out = _core.c4_local_search(start, 8, 2, **params)
    assert c4_free_mask(out, n).all()
    assert is_maximal(out, n).all()


def test_search_from_a_planted_graph_keeps_it_when_nothing_is_kicked():
    # a C4-free maximal graph at n = 100 is left alone by repair + growth
    first = _core.c4_local_search(random_graphs(100, 2, seed=13), 3, 1)
    assert np.array_equal(_core.c4_local_search(first, 4, 1), first)


def test_tabu_and_worse_moves_still_never_return_less_than_the_start():
    start = random_graphs(30, 20, seed=14)
    plain = _core.c4_local_search(start, 9, 2).sum(axis=1)
    walked = _core.c4_local_search(start, 9, 2, rounds=300, round_kick=1, tabu=10, accept_worse=0.5).sum(axis=1)
    assert (walked >= plain).all()
    assert walked.sum() > plain.sum()


def test_same_seed_same_output_whatever_the_threads():
    start = random_graphs(24, 50, seed=3)
    for params in ({}, {"kick": 2, "rounds": 30, "round_kick": 3}):
        one = _core.c4_local_search(start, 42, 1, **params)
        assert np.array_equal(one, _core.c4_local_search(start, 42, 2, **params))
        assert np.array_equal(one, _core.c4_local_search(start, 42, 0, **params))
        assert not np.array_equal(one, _core.c4_local_search(start, 43, 1, **params))


def test_iterated_search_never_loses_edges_and_finds_more():
    # same seed: the rounds start from exactly the graph the plain search returns
    start = random_graphs(20, 40, seed=4)
    plain = _core.c4_local_search(start, 9, 2).sum(axis=1)
    iterated = _core.c4_local_search(start, 9, 2, rounds=200, round_kick=2).sum(axis=1)
    assert (iterated >= plain).all()
    assert iterated.sum() > plain.sum()


def test_iterated_search_reaches_the_known_maximum_at_n20():
    out = _core.c4_local_search(random_graphs(20, 24, seed=5), 1, 2, rounds=1000, round_kick=2)
    assert out.sum(axis=1).max() == best_known_edges(20)
    assert c4_free_mask(out, 20).all()


def test_kernel_rejects_bad_input():
    with pytest.raises(ValueError, match="not n\\*\\(n-1\\)/2"):
        _core.c4_local_search(np.zeros((2, 7), np.uint8), 0)
    with pytest.raises(ValueError, match=">= 0"):
        _core.c4_local_search(np.zeros((2, 6), np.uint8), 0, rounds=-1)
    with pytest.raises(ValueError, match=">= 0"):
        _core.c4_local_search(np.zeros((2, 6), np.uint8), 0, tabu=-1)
    with pytest.raises(ValueError, match="accept_worse"):
        _core.c4_local_search(np.zeros((2, 6), np.uint8), 0, accept_worse=1.5)
    with pytest.raises(ValueError, match="1..128"):
        _core.c4_local_search(np.zeros((1, 129 * 128 // 2), np.uint8), 0)


def test_registry_kernel_passes_task_parameters():
    kernel = resolve_kernel("c4free", None)
    start = random_graphs(16, 10, seed=6)
    got = kernel(start, None, 3, 2, {"kick": 1, "rounds": 10, "round_kick": 3, "tabu": 2, "accept_worse": 0.1})
    assert np.array_equal(got, _core.c4_local_search(start, 3, 2, 1, 10, 3, 2, 0.1))


def test_verifier_agrees_with_networkx():
    for n in (5, 8, 11):
        graphs = random_graphs(n, 40, seed=7)
        searched = _core.c4_local_search(graphs[:10], 2)
        both = np.concatenate([graphs, searched])
        mask = c4_free_mask(both, n)
        assert mask[len(graphs):].all()
        assert not mask.all()
        assert [not networkx_has_c4(row, n) for row in both] == mask.tolist()


def test_kernel_is_the_algorithm_of_the_python_port():
    # the benchmark's pure-Python port replays the kernel step for step, random stream included
    spec = importlib.util.spec_from_file_location("c4bench", ROOT / "benchmarks" / "c4_local_search.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    start = random_graphs(12, 15, seed=8)
    assert np.array_equal(bench.python_local_search(start, 12, 17), _core.c4_local_search(start, 17, 2))


def test_curriculum_chain_verifier_tells_c4_free_from_not():
    # the chain benchmark's networkx check is what its table reports: it must be able to say no
    spec = importlib.util.spec_from_file_location("chain", ROOT / "benchmarks" / "c4_curriculum_chain.py")
    chain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chain)
    assert chain.c4_free(nx.petersen_graph())  # girth 5
    assert not chain.c4_free(nx.cycle_graph(4))
    assert not chain.c4_free(nx.complete_bipartite_graph(2, 3))


def test_best_known_table():
    assert len(EX_C4) == 40
    assert [best_known_edges(n) for n in (1, 2, 4, 10, 20, 21, 25, 26, 30, 31, 40)] == [
        0, 1, 4, 16, 46, 50, 63, 67, 85, 90, 127]
    assert best_known_edges(0) is None
    assert best_known_edges(50) is None
    # beyond 40: OEIS A006855's lower bounds, still increasing, and 132 / 174 at the ends
    bounds = [best_known_edges(n) for n in range(40, 50)]
    assert bounds[1] == 132
    assert bounds[-1] == 174
    assert all(a < b for a, b in zip(bounds, bounds[1:]))
    # q^2 + q + 1 vertices (q a prime power): the polarity graph, q(q+1)^2 / 2 edges
    for q in (2, 3, 4, 5):
        assert best_known_edges(q * q + q + 1) == q * (q + 1) ** 2 // 2
    assert all(a <= b for a, b in zip(EX_C4, EX_C4[1:]))


@pytest.mark.parametrize(("name", "n"), [("c4free.toml", 20), ("c4free_n25.toml", 25), ("c4free_n30.toml", 30),
                                     ("c4free_n40.toml", 40)])
def test_presets_load_and_aim_at_their_size(name, n):
    task, _ = load_task(ROOT / "tasks" / name)
    assert task.problem["n"] == n
    assert task.kernel.params["rounds"] > 0
    assert task.kernel.elite_params["kick"] > 0

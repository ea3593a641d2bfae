"""The trees problem: exact independence sequences, breaks, canonical forms, the kernel."""
from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from loopengine import _core
from loopengine.config import SourcesSettings
from loopengine.pool import Pool
from loopengine.problems import make_problem
from loopengine.problems.trees.sequence import (
    bfs_parent_array,
    break_positions,
    independence_sequence,
    is_recursive_parent_array,
    random_prufer,
    random_recursive,
    to_networkx,
)

# The two trees on 26 vertices (the fewest with any) whose independence sequence is not
# log-concave; Kadrawi, Levit, Yosef and Mizrachi proved there are exactly two. Both were found
# by this package's search (tasks/trees.toml, generation 0) and are recorded here in its
# canonical form. Each breaks at k = 13 = alpha - 1.
KNOWN_26 = [
    [-1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
    [-1, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 5, 5, 5, 6, 6, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17],
]

# A tree on 47 vertices breaking at two indices, k = 23 and 24 (alpha = 25), found by
# benchmarks/trees_two_breaks.py (benchmarks/results/trees_two_breaks.md).
TWO_BREAKS_47 = [-1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 15,
                 15, 16, 16, 16, 16, 17, 20, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36]


def sequences(objects: np.ndarray) -> list[list[int]]:
    """The C++ sequences as Python integers, trailing zeros dropped."""
    words = _core.trees_sequence(np.asarray(objects, dtype=np.int32))
    out = []
    for row in words:
        seq = [int(lo) + (int(hi) << 64) for lo, hi in row]
        while len(seq) > 1 and seq[-1] == 0:
            seq.pop()
        out.append(seq)
    return out


def brute_force_sequence(parent) -> list[int]:
    """Count every vertex subset that holds no edge (2^n subsets: small n only)."""
    n = len(parent)
    edges = [(i, int(parent[i])) for i in range(1, n)]
    counts = [0] * (n + 1)
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            chosen = set(subset)
            if not any(a in chosen and b in chosen for a, b in edges):
                counts[size] += 1
    while counts[-1] == 0:
        counts.pop()
    return counts


def star(n: int) -> np.ndarray:
    row = np.zeros(n, dtype=np.int32)
    row[0] = -1
    return row


def relabelled(parent, rng: np.random.Generator) -> np.ndarray:
    """The same tree with other labels: a random root and a random breadth-first order."""
    graph = to_networkx(parent)
    adj = [list(graph.neighbors(v)) for v in range(len(parent))]
    for a in adj:
        rng.shuffle(a)
    return bfs_parent_array(adj, int(rng.integers(len(parent))))


def problem(**settings):
    return make_problem("trees", settings)


def test_sequence_equals_brute_force_on_small_trees():
    rng = np.random.default_rng(1)
    trees = [random_recursive(rng, n) for n in (4, 7, 9, 11, 12)] + [random_prufer(rng, n) for n in (5, 10, 12)]
    trees.append(random_prufer(rng, 14))
    for tree in trees:
        assert sequences(tree[None])[0] == brute_force_sequence(tree) == independence_sequence(tree)


def test_sequence_past_64_bits_equals_python_integers():
    rng = np.random.default_rng(2)
    trees = np.stack([random_recursive(rng, 60), random_prufer(rng, 60), star(60)])
    big = np.stack([random_recursive(rng, 128), star(128)])
    for batch in (trees, big):
        exact = [independence_sequence(t) for t in batch]
        assert sequences(batch) == exact
    assert max(max(s) for s in [independence_sequence(t) for t in big]) > 2**120  # near the 128-bit top
    assert max(independence_sequence(random_recursive(rng, 60))) > 2**20
    assert max(independence_sequence(star(100))) > 2**64


def test_python_sequence_agrees_with_networkx_independent_sets_count():
    rng = np.random.default_rng(3)
    tree = random_prufer(rng, 13)
    graph = to_networkx(tree)
    # independent sets of G are the cliques of its complement (networkx lists every clique)
    counts = [1] + [0] * 13
    for clique in nx.enumerate_all_cliques(nx.complement(graph)):
        counts[len(clique)] += 1
    while counts[-1] == 0:
        counts.pop()
    assert independence_sequence(tree) == counts


def test_known_26_vertex_counterexamples_are_detected():
    objects = np.array(KNOWN_26, dtype=np.int32)
    p = problem(n=26)
    pool = p.evaluate(Pool(objects=objects))
    assert pool.valid.all()
    assert (pool.score > 0).all()
    assert p.human_columns(pool)["break_at"] == ["13", "13"]
    for tree in objects:
        seq = independence_sequence(tree)
        assert len(seq) - 1 == 14
        assert break_positions(seq) == [13]
        assert seq[13] ** 2 < seq[12] * seq[14]
    assert not nx.is_isomorphic(to_networkx(objects[0]), to_networkx(objects[1]))
    assert len(set(p.canonical_keys(pool))) == 2


def test_new_counterexamples_pay_their_source_once():
    """Problem.hits marks the counterexamples; sources.new_hits credits each isomorphism class
    once per run, to its first row in pool order (a relabelled copy, or a later generation's
    find of the same tree, earns nothing)."""
    from loopengine import sources as S

    p = problem(n=26)
    star = [-1] + [0] * 25  # a star: log-concave
    # the last row is the first tree found again (the kernel returns canonical rows, so equal)
    objects = np.array([star, KNOWN_26[0], KNOWN_26[1], KNOWN_26[0]], dtype=np.int32)
    pool = p.evaluate(Pool(objects=objects, origin=np.array(["random", "model", "random", "elites"], dtype=object)))
    assert p.hits(pool).tolist() == [False, True, True, True]
    seen: set[int] = set()
    first = S.new_hits(p.hits(pool), lambda: p.canonical_keys(pool), seen)
    assert first.tolist() == [False, True, True, False]
    again = S.new_hits(p.hits(pool), lambda: p.canonical_keys(pool), seen)
    assert not again.any()
    credit = S.Credit(pool, np.zeros(0, dtype=np.int64), best_before=1.0, prompt_best={}, new_hits=first)
    names = ["model", "random", "elites"]
    out = S.record(S.new_state(), pool, credit, names, S.equal_shares(names), SourcesSettings())
    assert {n: v["new_hits"] for n, v in out.items()} == {"model": 1, "random": 1, "elites": 0}


def test_two_break_tree_is_detected_by_both_counts():
    row = np.array([TWO_BREAKS_47], dtype=np.int32)
    seq = independence_sequence(row[0])
    assert break_positions(seq) == [23, 24]
    assert seq[24] ** 2 < seq[23] * seq[25]
    score, count, mask, _ = _core.trees_score(row, 2, 3, 1)  # the second-largest of the last three r_k
    assert count.tolist() == [2]
    assert np.flatnonzero(mask[0]).tolist() == [23, 24]
    assert score[0] > 0


def test_score_sign_is_exactly_a_break():
    rng = np.random.default_rng(4)
    objects = np.stack([random_recursive(rng, 30) for _ in range(40)] + [random_prufer(rng, 30) for _ in range(20)])
    for tail in (0, 1, 3):
        score, count, mask, valid = _core.trees_score(objects, 1, tail, 1)
        for row, s, c, m in zip(objects, score, count, mask):
            seq = independence_sequence(row)
            alpha = len(seq) - 1
            first = 1 if tail == 0 or tail + 1 > alpha else alpha - tail
            ratios = [seq[k - 1] * seq[k + 1] / seq[k] ** 2 - 1 for k in range(first, alpha)]
            assert s == pytest.approx(max(ratios), rel=1e-9, abs=1e-12)
            assert np.flatnonzero(m).tolist() == break_positions(seq)
            assert c == len(break_positions(seq))
            assert (s > 0) == any(seq[k] ** 2 < seq[k - 1] * seq[k + 1] for k in range(first, alpha))


def test_score_is_exact_where_products_pass_128_bits():
    """s_k up to 2^124 at n = 128: the products s_(k-1) s_(k+1) and s_k^2 use all four 64-bit
    words of the 256-bit arithmetic; every r_k is compared with exact rational arithmetic."""
    from fractions import Fraction

    rng = np.random.default_rng(11)
    objects = [star(128), random_recursive(rng, 128), random_prufer(rng, 128), random_recursive(rng, 100)]
    for tail in (0, 1):
        for row in objects:
            [got], [c], [m], _ = _core.trees_score(row[None], 1, tail, 1)
            seq = independence_sequence(row)
            alpha = len(seq) - 1
            first = 1 if tail == 0 else alpha - 1
            exact = max(Fraction(seq[k - 1] * seq[k + 1], seq[k] ** 2) - 1 for k in range(first, alpha))
            assert got == pytest.approx(float(exact), rel=1e-12)
            assert np.flatnonzero(m).tolist() == break_positions(seq)
            assert c == len(break_positions(seq))
    assert max(independence_sequence(objects[0])) ** 2 > 2**240  # the star: all four words
    assert max(independence_sequence(objects[1])) ** 2 > 2**128


def test_second_break_score_and_invalid_rows():
    rows = np.array([KNOWN_26[0], [-1, 0, 5] + [0] * 23, [0] * 26], dtype=np.int32)
    score, count, _, valid = _core.trees_score(rows, 2, 0, 1)
    seq = independence_sequence(rows[0])
    ratios = sorted((seq[k - 1] * seq[k + 1] / seq[k] ** 2 - 1 for k in range(1, len(seq) - 1)), reverse=True)
    assert score[0] == pytest.approx(ratios[1])
    assert score[0] < 0 < ratios[0]
    assert valid.tolist() == [True, False, False]
    assert score[1:].tolist() == [-2.0, -2.0]
    pool = problem(n=26).evaluate(Pool(objects=rows))
    assert pool.valid.tolist() == [True, False, False]


def test_short_search_finds_counterexamples_and_each_rechecks_in_python_integers():
    rng = np.random.default_rng(5)
    starts = np.stack([random_recursive(rng, 30) for _ in range(12)])
    out, kernel_scores = _core.trees_search.run(starts, None, 7, 1, {"steps": 3000})
    p = problem(n=30)
    pool = p.evaluate(Pool(objects=out))  # evaluate itself rechecks every claimed break
    found = np.flatnonzero(pool.score > 0)
    assert len(found) >= 1
    for r in found:
        seq = independence_sequence(out[r])
        assert break_positions(seq)
        assert seq[-2] ** 2 < seq[-3] * seq[-1]
    np.testing.assert_allclose(kernel_scores, pool.score, rtol=1e-9)  # the kernel's view matches


def test_kernel_is_deterministic_per_seed_and_thread_count():
    rng = np.random.default_rng(6)
    starts = np.stack([random_prufer(rng, 27) for _ in range(6)])
    params = {"steps": 400, "kick": 2}
    a, sa = _core.trees_search.run(starts, None, 11, 1, params)
    b, sb = _core.trees_search.run(starts, None, 11, 2, params)
    c, _ = _core.trees_search.run(starts, None, 12, 1, params)
    assert np.array_equal(a, b)
    assert np.array_equal(sa, sb)
    assert not np.array_equal(a, c)
    assert all(is_recursive_parent_array(row) for row in a)


def test_kernel_returns_the_same_tree_canonically_and_mends_bad_rows():
    rng = np.random.default_rng(7)
    tree = random_prufer(rng, 20)
    out, _ = _core.trees_search.run(tree[None], None, 0, 1, {"steps": 0})
    assert nx.is_isomorphic(to_networkx(out[0]), to_networkx(tree))
    assert np.array_equal(out[0], _core.trees_canonical(tree[None])[0])
    bad = np.array([[5, 9, -3, 2, 7, 1]], dtype=np.int32)
    mended, _ = _core.trees_search.run(bad, None, 0, 1, {"steps": 10})
    assert is_recursive_parent_array(mended[0])


def test_canonical_keys_are_isomorphism_classes():
    rng = np.random.default_rng(8)
    p = problem(n=16)
    trees = [random_recursive(rng, 16) for _ in range(15)] + [random_prufer(rng, 16) for _ in range(15)]
    for tree in trees[:10]:
        copies = np.stack([tree] + [relabelled(tree, rng) for _ in range(5)])
        assert len(set(p.canonical_keys(Pool(objects=copies)))) == 1
    keys = p.canonical_keys(Pool(objects=np.stack(trees)))
    for i, j in itertools.combinations(range(len(trees)), 2):
        same = nx.is_isomorphic(to_networkx(trees[i]), to_networkx(trees[j]))
        assert (keys[i] == keys[j]) == same
    # bicentral trees: a path on an even number of vertices and a double star
    path = np.arange(-1, 15, dtype=np.int32)
    assert len(set(p.canonical_keys(Pool(objects=np.stack([path] + [relabelled(path, rng) for _ in range(4)]))))) == 1


def test_canonical_form_is_a_nondecreasing_parent_sequence_the_decoder_accepts():
    rng = np.random.default_rng(9)
    canon = _core.trees_canonical(np.stack([random_prufer(rng, 18) for _ in range(20)]))
    assert all(is_recursive_parent_array(row) and (np.diff(row[1:]) >= 0).all() for row in canon)
    p = problem(n=18)
    tokens = p.codec.encode(Pool(objects=canon))
    constraint = p.decoding_constraint()
    constraint.reset(len(tokens), torch.device("cpu"))
    for step in range(17):
        allowed, eos = constraint.allowed()
        column = torch.tensor([t[step] for t in tokens])
        assert allowed[torch.arange(len(tokens)), column].all()
        assert not eos.any()
        constraint.update(column)
    allowed, eos = constraint.allowed()
    assert eos.all()
    assert not allowed.any()
    assert np.array_equal(p.codec.decode(tokens, None).objects, canon)


def test_constrained_random_samples_are_trees():
    p = problem(n=12)
    constraint = p.decoding_constraint()
    gen = torch.Generator().manual_seed(0)
    constraint.reset(50, torch.device("cpu"))
    tokens = [[] for _ in range(50)]
    for _ in range(11):
        allowed, _ = constraint.allowed()
        logits = torch.randn(allowed.shape, generator=gen).masked_fill(~allowed, -torch.inf)
        pick = torch.multinomial(torch.softmax(logits, 1), 1, generator=gen).squeeze(1)
        constraint.update(pick)
        for row, t in zip(tokens, pick.tolist()):
            row.append(t)
    assert p.evaluate(p.codec.decode(tokens, None)).valid.all()
    short = p.codec.decode([[0, 1], [0, 99]], None)  # a short or out-of-range sample is invalid, never an error
    assert not p.evaluate(short).valid.any()


def test_initial_pool_mixes_recursive_and_prufer_trees():
    p = problem(n=40, prufer_fraction=0.5)
    pool = p.initial_pool(np.random.default_rng(10), 60)
    assert pool.objects.shape == (60, 40)
    assert pool.objects.dtype == np.int32
    assert p.evaluate(pool).valid.all()
    depth = [nx.eccentricity(to_networkx(row), 0) for row in pool.objects]
    assert min(depth) <= 6 < max(depth)  # bushy recursive trees and long uniform ones


@pytest.mark.slow
def test_task_file_runs_and_both_26_vertex_trees_turn_up(tmp_path):
    from loopengine.session import start_run

    task = tmp_path / "trees.toml"
    task.write_text((Path(__file__).resolve().parents[1] / "tasks" / "trees.toml").read_text())
    run_dir, _ = start_run(task, [
        f"task.out={tmp_path / 'runs'}", "task.generations=2", "loop.initial_pool=100",
        "loop.samples_per_generation=60", "train.first_steps=10", "train.steps=5", "execution.threads=1",
    ], quiet=True)
    best = (run_dir / "best.txt").read_text()
    assert best.startswith("graph6: ")
    assert "independence sequence: 1 26 300 " in best
    import pandas as pd

    found = pd.concat([pd.read_parquet(d / "candidates.parquet") for d in sorted(run_dir.glob("gen_*"))])
    breaking = found[found.breaks > 0]
    assert (breaking.score > 0).all()
    assert set(breaking.break_at) <= {"13"}
    assert 1 <= breaking.graph6.nunique() <= 2  # there are exactly two such trees

"""Constrained decoding: raw samples of even an untrained model are C4-free; in sorted order
they list their edges increasingly and end only when no legal later pair is left, in any order
they are maximal."""
from __future__ import annotations

import numpy as np
import torch

from loopengine.learn.model import N_SPECIAL, ModelShape, Transformer
from loopengine.learn.train import sample
from loopengine.pool import Pool
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings, c4_free_mask
from test_c4free import is_maximal


def untrained_tokens(problem: C4Free, count: int, constraint, begun=None) -> list[list[int]]:
    torch.manual_seed(0)
    shape = ModelShape(vocab=len(problem.codec.vocabulary()) + N_SPECIAL, context=problem.codec.max_answer_tokens() + 3,
                       layers=1, heads=2, width=16)
    return sample(Transformer(shape), [[] for _ in range(count)], problem.codec.max_answer_tokens(), 1.0, 16,
                  torch.Generator().manual_seed(1), torch.device("cpu"), constraint, begun)


def untrained_samples(problem: C4Free, count: int, constraint) -> np.ndarray:
    return problem.codec.decode(untrained_tokens(problem, count, constraint)).objects


def test_any_order_samples_are_c4_free_and_maximal():
    problem = C4Free(C4FreeSettings(n=14))  # any order is the default
    out = untrained_samples(problem, 40, problem.decoding_constraint())
    assert c4_free_mask(out, 14).all()
    assert is_maximal(out, 14).all()
    assert len({row.tobytes() for row in out}) > 30  # the constraint does not fix the answer


def test_completions_keep_the_given_edges_and_are_c4_free_and_maximal():
    """The model completes the first edges of known graphs: the given edges stay (they are
    fed to the constraint, so no completion closes a 4-cycle through them)."""
    n = 14
    problem = C4Free(C4FreeSettings(n=n))
    graphs = untrained_samples(problem, 12, problem.decoding_constraint())
    begun = [edges[:k] for edges, k in zip(problem.codec.encode(Pool(objects=graphs)), [0, 3, 3, 5] * 3)]
    tokens = untrained_tokens(problem, len(begun), problem.decoding_constraint(), begun)
    assert all(toks[:len(b)] == b for toks, b in zip(tokens, begun))
    out = problem.codec.decode(tokens).objects
    assert c4_free_mask(out, n).all()
    assert is_maximal(out, n).all()
    assert any(len(toks) > len(b) for toks, b in zip(tokens, begun))


def test_sorted_samples_are_c4_free_increasing_and_end_only_when_nothing_later_fits():
    n = 14
    problem = C4Free(C4FreeSettings(n=n, sorted_decoding=True))
    tokens = untrained_tokens(problem, 40, problem.decoding_constraint())
    out = problem.codec.decode(tokens).objects
    assert c4_free_mask(out, n).all()
    assert all(a < b for toks in tokens for a, b in zip(toks, toks[1:]))
    assert len({row.tobytes() for row in out}) > 30
    for toks, row in zip(tokens, out):  # no pair after the last edge could still be added
        for later in range(toks[-1] + 1, problem.pairs):
            grown = row.copy()
            grown[later] = 1
            assert not c4_free_mask(grown[None], n)[0]


def test_unconstrained_samples_of_an_untrained_model_are_not():
    problem = C4Free(C4FreeSettings(n=14, constrained_decoding=False))
    assert problem.decoding_constraint() is None
    out = untrained_samples(problem, 40, None)
    assert not (c4_free_mask(out, 14) & is_maximal(out, 14)).all()


def test_finished_rows_and_foreign_tokens_change_nothing():
    problem = C4Free(C4FreeSettings(n=5))
    c = problem.decoding_constraint()
    c.reset(2, torch.device("cpu"))
    c.update(torch.tensor([0, -1]))  # row 0 takes edge (0, 1); row 1 had finished
    legal, eos = c.allowed()
    assert not legal[0, 0]
    assert legal[1].all()
    assert not eos.any()


def test_bit_encoding_round_trips_and_its_samples_are_c4_free():
    n = 12
    problem = C4Free(C4FreeSettings(n=n, encoding="bits"))
    assert problem.codec.vocabulary() == ["0", "1"]
    assert problem.codec.max_answer_tokens() == problem.pairs
    graphs = problem.initial_pool(np.random.default_rng(0), 5).objects
    assert (problem.codec.decode(problem.codec.encode(Pool(objects=graphs))).objects == graphs).all()
    tokens = untrained_tokens(problem, 40, problem.decoding_constraint())
    assert all(len(toks) == problem.pairs for toks in tokens)  # EOS only after the last pair
    out = problem.codec.decode(tokens).objects
    assert c4_free_mask(out, n).all()
    assert len({row.tobytes() for row in out}) > 30

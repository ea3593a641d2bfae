"""Constrained decoding: raw samples of even an untrained model are C4-free and maximal."""
from __future__ import annotations

import numpy as np
import torch

from loopengine.model import N_SPECIAL, ModelShape, Transformer
from loopengine.problems.c4free.problem import C4Free, C4FreeSettings, c4_free_mask
from loopengine.train import sample

from test_c4free import is_maximal


def untrained_samples(problem: C4Free, count: int, constraint) -> np.ndarray:
    torch.manual_seed(0)
    shape = ModelShape(vocab=len(problem.vocabulary()) + N_SPECIAL, context=problem.max_answer_tokens() + 3,
                       layers=1, heads=2, width=16)
    tokens = sample(Transformer(shape), [[] for _ in range(count)], problem.max_answer_tokens(), 1.0, 16,
                    torch.Generator().manual_seed(1), torch.device("cpu"), constraint)
    return problem.decode(tokens).objects


def test_constrained_samples_are_c4_free_and_maximal():
    problem = C4Free(C4FreeSettings(n=14))
    out = untrained_samples(problem, 40, problem.decoding_constraint())
    assert c4_free_mask(out, 14).all() and is_maximal(out, 14).all()
    assert len({row.tobytes() for row in out}) > 30  # the constraint does not fix the answer


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
    assert not legal[0, 0] and legal[1].all() and not eos.any()

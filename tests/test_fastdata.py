"""The tensor training path gives the list path's batches: same rows, same draws."""
import numpy as np
import pytest
import torch

from loopengine import _core
from loopengine.learn.data import TokenMix, TokenSet, from_examples, from_token_arrays, to_batch
from loopengine.learn.train import TwoSetSampler, from_pool
from loopengine.pool import Pool
from loopengine.problems import make_problem
from loopengine.problems.codecs import MALFORMED

CONTEXT = 32


def list_examples(problem, pool):
    return list(zip(problem.encode_prompts(pool.prompts), problem.codec.encode(pool)))


@pytest.mark.parametrize(("name", "settings"), [("gcd", {"base": 30}), ("modmul", {"base": 1000}),
                                           ("gcd", {"base": 7, "max_operand": 5000})])
def test_cpp_tokens_equal_the_list_encoding(name, settings):
    p = make_problem(name, settings, "task.toml")
    pool = p.initial_pool(np.random.default_rng(1), 300)
    # answers as a model might give them: malformed, negative, zero
    pool.objects[:3, 0] = [MALFORMED, -17, 0]
    fast = from_token_arrays(*p.codec.encode_tokens(pool))
    ref = from_examples(list_examples(p, pool), CONTEXT)
    width = ref.ids.shape[1]
    assert torch.equal(fast.lengths, ref.lengths)
    assert torch.equal(fast.ids[:, :width], ref.ids)
    assert torch.equal(fast.targets[:, :width], ref.targets)
    assert (fast.ids[:, width:] == 0).all()
    assert (fast.targets[:, width:] == -100).all()


def test_encoder_rejects_values_wider_than_the_prompt():
    rows = np.array([[10**7, 5, 1]], dtype=np.int64)
    with pytest.raises(ValueError, match="row 0 has a value with more digits"):
        _core.int_encode_tokens(rows, 10, 6, 6, MALFORMED, 1)


def examples_of(rng, n, prompt_len=4):
    return [(rng.integers(0, 9, prompt_len).tolist(), rng.integers(0, 9, rng.integers(1, 4)).tolist())
            for _ in range(n)]


def reference_fresh(generated, share, selected):
    """The list path's fresh source: generated rows in order, each once while they last."""
    pick = from_pool(selected)
    if not generated:
        return pick
    share = share if selected else 1.0
    cursor = [0]

    def draw(r, size):
        n_gen = int(r.binomial(size, share))
        out = [generated[(cursor[0] + j) % len(generated)] for j in range(n_gen)]
        cursor[0] += n_gen
        return out + pick(r, size - n_gen)

    return draw


@pytest.mark.parametrize(("n_gen", "n_sel", "n_rep", "share", "p"), [(50, 20, 10, 0.8, 0.25), (0, 30, 0, 0.0, 0.0),
                                                       (40, 0, 15, 0.9, 0.5), (70, 25, 0, 0.5, 0.0)])
def test_token_mix_draws_the_list_path_batches(n_gen, n_sel, n_rep, share, p):
    rng = np.random.default_rng(3)
    gen, sel, rep = examples_of(rng, n_gen), examples_of(rng, n_sel), examples_of(rng, n_rep)
    ref = TwoSetSampler(reference_fresh(gen, share, sel), rep, p)
    as_set = lambda ex: from_examples(ex, CONTEXT)  # noqa: E731
    mix = TokenMix(as_set(gen), share, as_set(sel), as_set(rep), p)
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    for _ in range(12):  # past the end of `generated`, so the wrap-around is compared too
        x_ref, y_ref = to_batch(ref.draw(r1, 16), CONTEXT, torch.device("cpu"))
        x, y = mix.batch(r2, 16, CONTEXT, torch.device("cpu"))
        assert torch.equal(x, x_ref)
        assert torch.equal(y, y_ref)


def test_empty_mix_gives_no_batch_and_token_sets_survive_a_dict():
    empty = from_examples([], CONTEXT)
    assert TokenMix(None, 0.0, empty).batch(np.random.default_rng(0), 8, CONTEXT, torch.device("cpu")) is None
    ts = from_examples(examples_of(np.random.default_rng(0), 5), CONTEXT)
    back = TokenSet.from_dict(ts.to_dict())
    assert torch.equal(back.ids, ts.ids)
    assert torch.equal(back.lengths, ts.lengths)


def test_zero_answer_is_a_sign_and_one_digit():
    pool = Pool(objects=np.zeros((3, 1), dtype=np.int64), prompts=np.ones((3, 2), dtype=np.int64))
    p = make_problem("gcd", {}, "task.toml")
    ts = from_token_arrays(*p.codec.encode_tokens(pool))
    assert len(ts) == 3
    assert ts.lengths.tolist() == [2 + 2 * (1 + p.prompt_digits) + 2] * 3


def test_answer_only_forward_matches_the_full_forward():
    from loopengine.learn.model import ModelShape, Transformer
    from loopengine.learn.train import first_target, train_steps

    torch.manual_seed(0)
    shape = ModelShape(vocab=40, context=CONTEXT, layers=2, heads=2, width=16)
    ts = from_examples(examples_of(np.random.default_rng(4), 24, prompt_len=6), CONTEXT)
    x, y = ts.batch(torch.device("cpu"))
    first = first_target(y)
    assert first == 7  # BOS + 6 prompt tokens, then SEP predicts the first answer token
    model = Transformer(shape)
    assert torch.allclose(model(x, keep_from=first), model(x)[:, first:], atol=1e-5)
    # and training with it follows the full-forward run step for step
    losses = []
    for answer_only in (True, False):
        torch.manual_seed(1)
        m = Transformer(shape)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
        mix = TokenMix(ts, 1.0, None)
        got = []
        train_steps(m, opt, mix, 5, 8, np.random.default_rng(2), torch.device("cpu"),
                    on_step=lambda _step, loss, got=got: got.append(float(loss)), answer_only=answer_only)
        losses.append(got)
    assert np.allclose(losses[0], losses[1], atol=1e-4)

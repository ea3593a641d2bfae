"""Two-set training (Charton & Kempe): the repeated-example sampler."""
import numpy as np
import pytest
import torch

from loopengine.learn.train import TwoSetSampler, from_pool


def counter_source():
    """Fresh examples that are all distinct: ([-k], [k]) for k = 0, 1, 2, ..."""
    state = {"next": 0}

    def draw(rng, size):
        start = state["next"]
        state["next"] += size
        return [([-k], [k]) for k in range(start, start + size)]

    return draw, state


REPEATED = [([1000 + i], [i]) for i in range(50)]


def is_repeated(example):
    return example[0][0] >= 1000


@pytest.mark.parametrize("p", [0.1, 0.25, 0.75])
def test_share_of_repeated_examples_is_p(p):
    fresh, _ = counter_source()
    sampler = TwoSetSampler(fresh, REPEATED, p)
    rng = np.random.default_rng(0)
    batches = [sampler.draw(rng, 64) for _ in range(300)]
    share = np.mean([is_repeated(e) for b in batches for e in b])
    assert abs(share - p) < 0.015
    assert all(len(b) == 64 for b in batches)


def test_repeated_examples_come_from_the_fixed_set_and_fresh_ones_are_new():
    fresh, state = counter_source()
    sampler = TwoSetSampler(fresh, REPEATED, 0.5)
    rng = np.random.default_rng(1)
    seen_fresh, seen_rep = [], []
    for _ in range(100):
        for e in sampler.draw(rng, 32):
            (seen_rep if is_repeated(e) else seen_fresh).append(e)
    assert {e[0][0] for e in seen_rep} <= {e[0][0] for e in REPEATED}
    assert len({e[1][0] for e in seen_rep}) == len(REPEATED)  # every repeated example is used...
    assert len(seen_rep) > 10 * len(REPEATED)  # ...many times
    assert len({e[1][0] for e in seen_fresh}) == len(seen_fresh) == state["next"]  # fresh: each once


def test_both_sets_are_mixed_inside_each_batch():
    fresh, _ = counter_source()
    sampler = TwoSetSampler(fresh, REPEATED, 0.5)
    rng = np.random.default_rng(2)
    for _ in range(20):
        batch = sampler.draw(rng, 64)
        flags = [is_repeated(e) for e in batch]
        assert 0 < sum(flags) < 64
        # shuffled: the repeated examples are not all at the front or all at the back
        assert flags != sorted(flags)
        assert flags != sorted(flags, reverse=True)


def test_degenerate_settings():
    rng = np.random.default_rng(3)
    fresh, _ = counter_source()
    assert not any(is_repeated(e) for e in TwoSetSampler(fresh, REPEATED, 0.0).draw(rng, 100))
    assert all(is_repeated(e) for e in TwoSetSampler(fresh, REPEATED, 1.0).draw(rng, 100))
    assert not any(is_repeated(e) for e in TwoSetSampler(fresh, [], 0.9).draw(rng, 100))  # no set: all fresh


def test_same_seed_same_batches():
    def run(seed):
        fresh, _ = counter_source()
        sampler = TwoSetSampler(fresh, REPEATED, 0.3)
        rng = np.random.default_rng(seed)
        return [sampler.draw(rng, 16) for _ in range(10)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_from_pool_draws_only_from_its_list():
    examples = [([i], [i]) for i in range(5)]
    draw = from_pool(examples)
    got = draw(np.random.default_rng(0), 200)
    assert len(got) == 200
    assert set(e[0][0] for e in got) == set(range(5))
    assert from_pool([])(np.random.default_rng(0), 10) == []


def test_loop_keeps_one_repeated_set_for_the_whole_run(tmp_path):
    """Through the loop: the repeated set is drawn once (generation 0) from the problem's
    generator and reused unchanged by later generations."""
    from loopengine.config import validate_task
    from loopengine.progress import RunProgress
    from loopengine.session import build_loop

    task = validate_task({
        "task": {"name": "t", "problem": "gcd", "generations": 2},
        "problem": {"max_operand": 1000, "base": 10, "test_size": 50, "classes": 5, "per_class": 5},
        "loop": {"initial_pool": 50, "samples_per_generation": 20, "keep": 20, "elite_size": 0},
        "model": {"layers": 1, "heads": 2, "width": 16},
        "train": {"first_steps": 3, "steps": 3, "batch_size": 8, "repeat_set_size": 40, "repeat_prob": 0.5},
        "kernel": {"local_search": "none"},
        "execution": {"threads": 1},
    }, "t.toml")
    loop = build_loop(task, "t.toml", tmp_path, tmp_path / "run", quiet=True)
    with RunProgress(2, quiet=True) as progress:
        loop.train(0, loop.train_steps(0), None, None, np.random.default_rng(0), progress)
        first = {k: v.clone() for k, v in loop.state.repeated.items()}
        loop.train(1, loop.train_steps(1), None, None, np.random.default_rng(1), progress)
    assert len(first["ids"]) == 40
    assert all(torch.equal(loop.state.repeated[k], first[k]) for k in first)


def test_two_set_training_still_replays_elites(tiny_task):
    """With two-set training on, the repeated set takes repeat_prob of each batch and the
    elites are blended into the rest: neither source is dropped."""
    from loopengine.config import load_task
    from loopengine.learn.train import token_set, training_sampler
    from loopengine.pool import Pool
    from loopengine.problems import make_problem

    task, _ = load_task(tiny_task, ["train.repeat_set_size=4", "train.repeat_prob=0.3",
                                    "selection.elite_fraction=0.5"])
    problem = make_problem("c4free", {"n": 8})
    rng = np.random.default_rng(0)
    selected = problem.initial_pool(rng, 10)
    elites = Pool(objects=np.ones((2, selected.objects.shape[1]), dtype=selected.objects.dtype))
    context = problem.codec.max_answer_tokens() + 3
    mix, repeated = training_sampler(problem, task, True, selected, elites, {}, rng, 64, context)
    assert torch.equal(repeated["ids"], token_set(problem, selected, context).ids[:4])
    drawn = mix.draw(np.random.default_rng(1), 400)
    rows = lambda ids: {tuple(r[r != 0].tolist()) for r in ids}  # noqa: E731  (PAD = 0 stripped)
    elite_rows, repeated_rows = rows(token_set(problem, elites, context).ids), rows(repeated["ids"])
    drawn_rows = [tuple(r[r != 0].tolist()) for r in drawn.ids]
    n_elite = sum(r in elite_rows for r in drawn_rows)
    n_repeated = sum(r in repeated_rows for r in drawn_rows)
    # expected shares (binomial, 400 draws): elites 0.7 * 0.5 = 0.35; the repeated rows 0.3, plus
    # their share of the once-seen rows (they are 4 of the 10 selected ones): 0.35 * 0.4 = 0.14
    assert 0.34 < n_repeated / 400 < 0.54
    assert 0.25 < n_elite / 400 < 0.45

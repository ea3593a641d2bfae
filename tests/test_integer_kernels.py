"""The C++ integer kernels against numpy / Python big integers."""
import math

import numpy as np
import pytest

from loopengine import _core


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize(("lo", "hi"), [(-10**18, 10**18), (0, 60), (1, 10**6)])
def test_gcd_batch_matches_numpy(rng, lo, hi):
    a = rng.integers(lo, hi, 20000)
    b = rng.integers(lo, hi, 20000)
    a[:3], b[:3] = [0, 0, 7], [0, 9, 0]  # gcd(0, 0) = 0, gcd(0, n) = n
    assert np.array_equal(_core.int_gcd_batch(a, b, 2), np.gcd(a, b))


@pytest.mark.parametrize("p", [2, 67, 10**9 + 7, 2**32])
@pytest.mark.parametrize("op", ["mul", "add"])
def test_mod_batch_matches_big_integers(rng, p, op):
    a = rng.integers(-2**62, 2**62, 3000)
    b = rng.integers(-2**62, 2**62, 3000)
    a[:1000] = rng.integers(0, 10**6, 1000)  # the fast path for small operands
    want = [((x * y) if op == "mul" else (x + y)) % p for x, y in zip(a.tolist(), b.tolist())]
    assert _core.int_mod_batch(a, b, p, op, 2).tolist() == want


def test_gcd_generator_natural(rng):
    rows = _core.int_gcd_generate(20000, 7, 10**6, "uniform", "natural", 100, 2)
    assert rows.shape == (20000, 3)
    assert rows.dtype == np.int64
    assert rows[:, :2].min() >= 1
    assert rows[:, :2].max() <= 10**6
    assert np.array_equal(rows[:, 2], np.gcd(rows[:, 0], rows[:, 1]))
    # natural outcomes: P(gcd = 1) = 6 / pi^2
    assert abs((rows[:, 2] == 1).mean() - 6 / math.pi**2) < 0.015


def test_gcd_generator_loguniform_outcomes():
    rows = _core.int_gcd_generate(50000, 3, 10**6, "uniform", "loguniform", 100, 2)
    assert np.array_equal(rows[:, 2], np.gcd(rows[:, 0], rows[:, 1]))
    assert rows[:, 2].max() <= 100
    freq = np.bincount(rows[:, 2], minlength=101)[1:] / len(rows)
    harmonic = 1 / np.arange(1, 101) / (1 / np.arange(1, 101)).sum()
    # P(k) ~ 1/k: gcd 1 four times as often as gcd 4, checked against the exact law
    assert np.abs(freq[:10] - harmonic[:10]).max() < 0.01


def test_gcd_generator_loguniform_operands():
    uni = _core.int_gcd_generate(20000, 1, 10**6, "uniform", "natural")
    log = _core.int_gcd_generate(20000, 1, 10**6, "loguniform", "natural")
    assert np.median(log[:, 0]) < 5000 < np.median(uni[:, 0])
    assert log[:, :2].min() >= 1
    assert log[:, :2].max() <= 10**6


def test_generators_are_deterministic_whatever_the_threads():
    one = _core.int_gcd_generate(30000, 99, 10**6, "loguniform", "loguniform", 100, 1)
    two = _core.int_gcd_generate(30000, 99, 10**6, "loguniform", "loguniform", 100, 2)
    assert np.array_equal(one, two)
    assert not np.array_equal(one, _core.int_gcd_generate(30000, 100, 10**6, "loguniform", "loguniform", 100, 2))
    m1 = _core.int_mod_generate(30000, 5, 10**6, 67, "mul", "uniform", 1)
    assert np.array_equal(m1, _core.int_mod_generate(30000, 5, 10**6, 67, "mul", "uniform", 2))


def test_mod_generator_and_verifiers():
    rows = _core.int_mod_generate(5000, 11, 10**6, 67, "mul")
    assert rows[:, :2].min() >= 0
    assert rows[:, :2].max() <= 10**6
    assert np.array_equal(rows[:, 2], (rows[:, 0] * rows[:, 1]) % 67)
    assert _core.int_mod_verify(rows[:, :2], rows[:, 2], 67, "mul").all()
    wrong = rows[:, 2] + 1
    assert not _core.int_mod_verify(rows[:, :2], wrong, 67, "mul").any()
    add = _core.int_mod_generate(100, 11, 10**6, 67, "add")
    assert np.array_equal(add[:, 2], (add[:, 0] + add[:, 1]) % 67)


def test_gcd_verify_rejects_wrong_and_negative_answers():
    rows = _core.int_gcd_generate(1000, 2, 10**6)
    answers = rows[:, 2:3].copy()  # (N, 1) answers are accepted as well as (N,)
    assert _core.int_gcd_verify(rows[:, :2], answers).all()
    answers[::2] *= -1
    answers[1::2] += 1
    assert not _core.int_gcd_verify(rows[:, :2], answers).any()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: _core.int_mod_batch(np.arange(3), np.arange(3), 1), r"modulus must be in \[2, 2\^32\] \(got 1\)"),
    (lambda: _core.int_mod_generate(10, 0, 100, 0), r"modulus must be in \[2, 2\^32\] \(got 0\)"),
    (lambda: _core.int_gcd_generate(10, 0, 0), r"max_operand must be in \[1, 2\^62\] \(got 0\)"),
    (lambda: _core.int_gcd_generate(10, 0, 100, "uniform", "balanced"), r'outcomes must be .* \(got "balanced"\)'),
    (lambda: _core.int_gcd_generate(10, 0, 100, "uniform", "loguniform", 1000), r"max_gcd must be in .* \(got 1000\)"),
    (lambda: _core.int_mod_batch(np.arange(3), np.arange(3), 67, "pow"), r'op must be "mul" or "add" \(got "pow"\)'),
    (lambda: _core.int_gcd_batch(np.arange(3), np.arange(4)), r"arrays differ in size \(3 vs 4\)"),
    (lambda: _core.int_gcd_verify(np.zeros((3, 2), dtype=np.int64), np.zeros(2, dtype=np.int64)),
     r"need one answer per prompt \(2 answers, 3 prompts\)"),
])
def test_kernels_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()

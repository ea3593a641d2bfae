"""The SDP search of V (v_search.py) and its exact linear algebra (exact_linear.py)."""
from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

from loopengine.problems.lyapunov.certificate import GAS, PROVEN, STABLE, certify
from loopengine.problems.lyapunov.exact_linear import null_space
from loopengine.problems.lyapunov.polynomials import add, derivative
from loopengine.problems.lyapunov.systems import parse_equation, parse_system
from loopengine.problems.lyapunov.v_search import (
    _LieMap,
    _share_time,
    candidates,
    families,
    mixed_squares,
    pure_powers,
    sparse_vdots,
)


def test_null_space_is_exact_and_complete():
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, size=(6, 9)) * (rng.random((6, 9)) < 0.4)
    a[5] = a[0] + 2 * a[1]  # a dependent row
    rows = [{j: Fraction(int(v), 7) for j, v in enumerate(r) if v} for r in a]
    basis = null_space(rows, 9)
    assert len(basis) == 9 - np.linalg.matrix_rank(a)
    for vec in basis:
        assert all(sum((row.get(j, 0) * x for j, x in vec.items()), Fraction(0)) == 0 for row in rows)


def first_proof(f, n, seconds=15.0):
    for v in candidates(f, n, time_limit=seconds):
        cert = certify(v, f, n)
        if cert.proven:
            return v, cert
    return None, None


@pytest.mark.slow
def test_finds_v_for_a_backward_built_system_of_degree_nine():
    """f = J grad V for V = x0^4 + x0^2 x1^5 + x1^10 (positive definite: a^2 + ab + b^2) and
    J = [[-1, 1], [-1, -1]], so V' = -(V_x0^2 + V_x1^2) of degree 18: a full Gram basis for
    the degree-10 V is too big, but V is a quadratic form in pure powers (x0^2, x1^5). (The
    search may also find another, lower-degree V; any exact proof counts.)"""
    v = parse_equation("x0**4 + x0**2*x1**5 + x1**10", 2, "V", equilibrium=False)
    d0, d1 = derivative(v, 0), derivative(v, 1)
    f = [add({m: -c for m, c in d0.items()}, d1), add({m: -c for m, c in d0.items()}, {m: -c for m, c in d1.items()})]
    found, cert = first_proof(f, 2)
    assert found is not None
    assert cert.status in PROVEN


@pytest.mark.slow
@pytest.mark.parametrize("f", [
    ["x0/10000000000000 - x0**3", "-x1"],   # unstable at the origin (the 1e-13 term)
    ["x0 + x1", "-x1"],                     # unstable
    ["x0**2 - x1", "x0"],                   # not stable (x0^2 drives it out)
    ["-x0**3 + x0*x1**2", "-x1 + x0**4"],   # not globally stable
])
def test_no_proof_for_a_system_that_is_not_stable(f):
    system = parse_system(f)
    for v in candidates(system, 2, max_power=3, time_limit=5.0):
        assert not certify(v, system, 2).proven


def test_center_is_only_stable():
    system = parse_system(["x1", "-x0"])
    v, cert = first_proof(system, 2, 5.0)
    assert cert is not None
    assert cert.status == STABLE
    assert cert.status != GAS


# BPoly line 15 of the public benchmark (reference V = 4x0^2 - 4x0x1 + 5x1^2 + 3x1^8 + x0^12)
BPOLY_15 = ["8*x0 - 20*x1 + 8*x0*x1 - 20*x1**2 - 8*x0*x1**2 + 4*x1**3 - 48*x1**7 - 48*x1**8 - 12*x0**11*x1**2",
            "16*x0 - 8*x1 + 16*x0*x1 - 8*x1**2 + 24*x0**11 + 24*x0**11*x1"]


@pytest.mark.slow
def test_a_wrong_signed_square_in_the_sparse_vdot_does_not_block_the_proof():
    """Step 1 ends here with +0.08 x1^4 in V' where the proven V' has -16 x1^4; reading the -V'
    basis with those signs drops x1^2 and no V is left. Without the signs the search proves
    it (before 2026-12-02 it found no candidate at all)."""
    system = parse_system(BPOLY_15)
    v, cert = first_proof(system, 2, 20.0)
    assert cert is not None
    assert cert.status in PROVEN


def test_restarts_are_seeded_and_start_elsewhere():
    system = parse_system(BPOLY_15)
    fam = _LieMap(system, 2, pure_powers(2, 3))
    plain = next(sparse_vdots(fam, 10.0))
    a = next(sparse_vdots(fam, 10.0, rng=np.random.default_rng(1)))
    b = next(sparse_vdots(fam, 10.0, rng=np.random.default_rng(1)))
    assert np.array_equal(a, b)
    assert not np.allclose(a, plain, atol=1e-6)


# BPoly lines 68 and 179: their reference V (x0^2 + 2x0^4 + x0^2 x1^2 + x1^6, and
# x2^2 + 3x1^6 + x2^6 + x1^2 x2^8 + 3x0^12) need the mixed squares (x0 x1)^2 and (x1 x2^4)^2,
# which no PSD quadratic form in pure powers has; before the mixed-square families the search
# found neither in 20 s.
BPOLY_68 = ["-4*x0**3*x1 - 12*x0*x1**5", "4*x0**2 + 16*x0**4 + 4*x0**2*x1**2 - 2*x0**2*x1**5 - 6*x1**9"]
BPOLY_179 = ["-36*x0**13", "2*x1*x2 + 6*x1*x2**5 + 8*x1**3*x2**7", "-18*x1**6 - 2*x1**2*x2**8"]


def test_mixed_squares_come_from_f():
    assert (1, 1) in mixed_squares(parse_system(BPOLY_68), 2, 3)
    assert (0, 1, 4) in mixed_squares(parse_system(BPOLY_179), 3, 5)
    assert (0, 1, 4) not in mixed_squares(parse_system(BPOLY_179), 3, 4)  # degree 5 > K
    assert all(sum(1 for e in m if e) > 1 for m in mixed_squares(parse_system(BPOLY_179), 3, 6))
    pure, mixed = families(parse_system(BPOLY_68), 2, 3)
    assert pure == [pure_powers(2, k) for k in (1, 2, 3)]  # the first tier, as before
    # K = 1 has no mixed square; K = 2 adds x0 x1, K = 3 also x0 x1^2 (x0^2 x1^4 = x0^2 x1^5 / x1)
    assert [set(z) for z in mixed] == [set(pure[1]) | {(1, 1)}, set(pure[2]) | {(1, 1), (1, 2)}]


@pytest.mark.slow
@pytest.mark.parametrize("f", [BPOLY_68, BPOLY_179])
def test_systems_whose_v_needs_a_mixed_square_are_proven(f):
    system = parse_system(f)
    v, cert = first_proof(system, len(f), 15.0)
    assert cert is not None
    assert cert.status in PROVEN
    assert any(sum(1 for e in m if e) > 1 and all(e % 2 == 0 for e in m) for m in v)


def test_a_stream_without_candidates_does_not_starve_the_other():
    """_share_time: a stream that only ends turns (None) gets no more time than one that
    yields candidates, and its Nones never reach the caller."""
    def barren():
        while True:
            time.sleep(0.02)
            yield None

    def fruitful():
        for i in range(3):
            time.sleep(0.01)
            yield {(i, 0): Fraction(1)}

    start = time.perf_counter()
    got = list(_share_time([barren(), fruitful()], lambda: 0.5 - (time.perf_counter() - start)))
    assert got == [{(i, 0): Fraction(1)} for i in range(3)]

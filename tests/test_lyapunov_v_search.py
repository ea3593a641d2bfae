"""The SDP search of V (v_search.py) and its exact linear algebra (exact_linear.py)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from loopengine.problems.lyapunov.certificate import GAS, PROVEN, STABLE, certify
from loopengine.problems.lyapunov.exact_linear import null_space
from loopengine.problems.lyapunov.polynomials import add, derivative
from loopengine.problems.lyapunov.systems import parse_equation, parse_system
from loopengine.problems.lyapunov.v_search import _LieMap, candidates, pure_powers, sparse_vdots


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


def test_finds_v_for_a_backward_built_system_of_degree_nine():
    """f = J grad V for V = x0^4 + x0^2 x1^5 + x1^10 (positive definite: a^2 + ab + b^2) and
    J = [[-1, 1], [-1, -1]], so V' = -(V_x0^2 + V_x1^2) of degree 18: a full Gram basis for
    the degree-10 V is too big, but V is a quadratic form in pure powers (x0^2, x1^5). (The
    search may also find another, lower-degree V; any exact proof counts.)"""
    v = parse_equation("x0**4 + x0**2*x1**5 + x1**10", 2, "V", equilibrium=False)
    d0, d1 = derivative(v, 0), derivative(v, 1)
    f = [add({m: -c for m, c in d0.items()}, d1), add({m: -c for m, c in d0.items()}, {m: -c for m, c in d1.items()})]
    found, cert = first_proof(f, 2)
    assert found is not None and cert.status in PROVEN


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
    assert cert is not None and cert.status == STABLE and cert.status != GAS


# BPoly line 15 of the public benchmark (reference V = 4x0^2 - 4x0x1 + 5x1^2 + 3x1^8 + x0^12)
BPOLY_15 = ["8*x0 - 20*x1 + 8*x0*x1 - 20*x1**2 - 8*x0*x1**2 + 4*x1**3 - 48*x1**7 - 48*x1**8 - 12*x0**11*x1**2",
            "16*x0 - 8*x1 + 16*x0*x1 - 8*x1**2 + 24*x0**11 + 24*x0**11*x1"]


def test_a_wrong_signed_square_in_the_sparse_vdot_does_not_block_the_proof():
    """Step 1 ends here with +0.08 x1^4 in V' where the proven V' has -16 x1^4; reading the -V'
    basis with those signs drops x1^2 and no V is left. Without the signs the search proves
    it (before 2026-12-02 it found no candidate at all)."""
    system = parse_system(BPOLY_15)
    v, cert = first_proof(system, 2, 20.0)
    assert cert is not None and cert.status in PROVEN


def test_restarts_are_seeded_and_start_elsewhere():
    system = parse_system(BPOLY_15)
    fam = _LieMap(system, 2, pure_powers(2, 3))
    plain = next(sparse_vdots(fam, 10.0))
    a = next(sparse_vdots(fam, 10.0, rng=np.random.default_rng(1)))
    b = next(sparse_vdots(fam, 10.0, rng=np.random.default_rng(1)))
    assert np.array_equal(a, b)
    assert not np.allclose(a, plain, atol=1e-6)

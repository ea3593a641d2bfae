"""The SDP search of V (v_search.py) and its exact linear algebra (exact_linear.py)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from loopengine.problems.lyapunov.certificate import GAS, PROVEN, STABLE, certify
from loopengine.problems.lyapunov.exact_linear import null_space
from loopengine.problems.lyapunov.polynomials import add, derivative
from loopengine.problems.lyapunov.systems import parse_equation, parse_system
from loopengine.problems.lyapunov.v_search import candidates


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

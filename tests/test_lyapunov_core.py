"""Lyapunov: numeric form, tokens, generators and the C++ falsifier / local search."""
from fractions import Fraction

import numpy as np
import pytest

from loopengine.problems.lyapunov import tokens as T
from loopengine.problems.lyapunov.backward import BackwardSpec, backward_example
from loopengine.problems.lyapunov.falsify import check, local_search, sample_points
from loopengine.problems.lyapunov.polynomials import Layout, dict_to_vector, lie_derivative, monomial_basis
from loopengine.problems.lyapunov.systems import parse_equation, parse_system

LAYOUT = Layout(3, 3, 4, 20, 8)


def make_row(f: list[str], v: str) -> np.ndarray:
    system = parse_system(f)
    n = len(system)
    row = LAYOUT.empty(1)[0]
    row[0] = n
    fb = row[LAYOUT.f_slice].reshape(LAYOUT.n_max, LAYOUT.mf)
    for i, eq in enumerate(system):
        fb[i] = dict_to_vector(eq, LAYOUT.f_basis)
    row[LAYOUT.v_slice] = dict_to_vector(parse_equation(v, n, "V"), LAYOUT.v_basis)
    return row


def numpy_reference(row: np.ndarray, points: np.ndarray, tol: float = 1e-9) -> int:
    """Independent count of points with V <= tol*|V| or V' > tol*|V'| (vectorised numpy)."""
    n = int(row[0])
    fb, vb = LAYOUT.f_basis[:, :n], LAYOUT.v_basis[:, :n]
    inside_f, inside_v = ~LAYOUT.f_basis[:, n:].any(1), ~LAYOUT.v_basis[:, n:].any(1)
    x = points[:, :n]
    x = x[(x ** 2).sum(1) > 0]
    mono = lambda basis: np.prod(x[:, None, :] ** basis[None], axis=2)  # noqa: E731
    c = row[LAYOUT.v_slice] * inside_v
    terms = mono(vb) * c
    V, aV = terms.sum(1), np.abs(terms).sum(1)
    F = row[LAYOUT.f_slice].reshape(LAYOUT.n_max, LAYOUT.mf)[:n] * inside_f
    fterms = mono(fb)[:, None, :] * F[None]
    D, aD = np.zeros(len(x)), np.zeros(len(x))
    for j in range(n):
        e = vb.copy()
        coef = c * e[:, j]
        e[:, j] = np.maximum(e[:, j] - 1, 0)
        g = mono(e) * coef
        D += g.sum(1) * fterms[:, j].sum(1)
        aD += np.abs(g).sum(1) * np.abs(fterms[:, j]).sum(1)
    return int(np.sum(~(tol * aV < V) | (tol * aD < D)))


def test_basis_is_graded_and_complete():
    b = monomial_basis(3, 2, 4)
    assert len(b) == 6 + 10 + 15
    assert (np.diff(b.sum(1)) >= 0).all()
    assert len({tuple(r) for r in b}) == len(b)


@pytest.mark.parametrize(("f", "v", "expect_zero"), [
    (["-x0**3 + x1", "-x0 - x1"], "x0**2 + x1**2", True),
    (["-x0 + x1*x2", "-x1 - x0*x2", "-x2"], "x0**2 + x1**2 + x2**2", True),
    (["-x0 + x1**2", "-x1"], "x0**2 + x1**2", False),
    (["x0", "-x1"], "x0**2 + 3*x1**4 - x0*x1", False),
    (["-x0 + x1", "-x1 - x0**3"], "x0**2 - 2*x0*x1 + 3*x1**2 + x0**4", False),
])
def test_cpp_check_matches_numpy(f, v, expect_zero):
    row = make_row(f, v)
    pts = sample_points(3, LAYOUT.n_max)
    got = check(row[None], pts)[0]
    assert int(got[0]) == numpy_reference(row, pts)
    assert (got[0] == 0) == expect_zero


def test_zero_v_violates_everywhere():
    row = make_row(["-x0", "-x1"], "x0**2")
    row[LAYOUT.v_slice] = 0
    pts = sample_points(0, LAYOUT.n_max)
    assert check(row[None], pts)[0, 0] == numpy_reference(row, pts) > 0


def test_local_search_finds_v_and_is_deterministic():
    rows = np.stack([make_row(["-x0 + x1", "-x0 - x1"], "x0**2"), make_row(["x1", "-x0**3 - x1"], "x1**2")] * 4)
    rows[:, LAYOUT.v_slice] = 0
    a = local_search(rows, None, seed=5, threads=2, steps=3000)
    b = local_search(rows, None, seed=5, threads=1, steps=3000)
    assert np.array_equal(a, b)
    assert np.array_equal(a[:, : LAYOUT.v_slice.start], rows[:, : LAYOUT.v_slice.start])  # system untouched
    stats = check(a, sample_points(99, LAYOUT.n_max))
    assert (stats[:, 0] == 0).mean() >= 0.5


def test_tokens_roundtrip_and_garbage():
    rng = np.random.default_rng(1)
    spec = BackwardSpec()
    for _ in range(20):
        n, f, v = backward_example(rng, spec)
        assert T.parse_poly(T.poly_tokens(v), n) == v
        assert T.parse_system_tokens(T.system_tokens(f)) == f
    assert T.poly_tokens({(2, 0): Fraction(-12)}) == ["*", "INT-", "1", "2", "^", "x0", "2"]
    for bad in (["+", "x0"], ["^", "INT+", "2"], ["x7"], ["x0", "x1"], [], ["INT+"]):
        with pytest.raises(T.TokenError):
            T.parse_poly(bad, 2)


def test_backward_examples_decrease_by_construction():
    rng = np.random.default_rng(2)
    pts = sample_points(0, 3)
    for _ in range(30):
        n, f, v = backward_example(rng, BackwardSpec())
        vdot = lie_derivative(v, f)
        # -V' = sum h_i^2 (dV/dx_i)^2: every pure even power term of -V' is >= 0
        assert all(-c >= 0 for m, c in vdot.items() if sum(1 for e in m if e) == 1 and all(e % 2 == 0 for e in m))
        row = LAYOUT.empty(1)[0]
        row[0] = n
        fb = row[LAYOUT.f_slice].reshape(3, LAYOUT.mf)
        for i, eq in enumerate(f):
            fb[i] = dict_to_vector(eq, LAYOUT.f_basis)
        row[LAYOUT.v_slice] = dict_to_vector(v, LAYOUT.v_basis)
        assert check(row[None], pts)[0, 0] == 0

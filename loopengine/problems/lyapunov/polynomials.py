"""Polynomials at the edges (sympy) and inside (exponent table + coefficient vector).

The numeric form is what the C++ kernels read: a monomial basis is every exponent tuple in
`nvars` variables with total degree in [lo, hi], in graded order (degree first, then
reverse-lexicographic on the exponent tuple, i.e. x0 before x1). csrc/src/lyapunov.cpp
enumerates the same basis from (nvars, lo, hi) alone, so a row never carries its tables.

An object row (`Layout`) is self-describing:
    [n, n_max, f_degree, v_degree, coef_bound, max_terms,  f (n_max blocks of the f basis),  V (the V basis)]
(coef_bound and max_terms bound the local search, so the kernel follows the task's settings).
f basis: degrees 1..f_degree (f(0) = 0 has no constant term);
V basis: degrees 2..v_degree (V(0) = 0 and a positive definite V has no linear term).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction

import numpy as np
import sympy as sp

HEADER = 6  # n, n_max, f_degree, v_degree, coef_bound, max_terms


def _compositions(total: int, parts: int):
    """Exponent tuples of `parts` entries summing to `total`, x0's exponent largest first."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


@lru_cache(maxsize=None)
def monomial_basis(nvars: int, lo: int, hi: int) -> np.ndarray:
    """(M, nvars) int32 exponents of all monomials with lo <= degree <= hi, graded order."""
    rows = [c for d in range(lo, hi + 1) for c in _compositions(d, nvars)]
    out = np.array(rows, dtype=np.int32).reshape(len(rows), nvars)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=None)
def basis_index(nvars: int, lo: int, hi: int) -> dict[tuple[int, ...], int]:
    return {tuple(int(e) for e in row): i for i, row in enumerate(monomial_basis(nvars, lo, hi))}


def symbols(n: int) -> list[sp.Symbol]:
    return list(sp.symbols(f"x0:{n}"))


@dataclass(frozen=True)
class Layout:
    """Where each part of an object row lives, for a given (n_max, f_degree, v_degree)."""

    n_max: int
    f_degree: int
    v_degree: int
    coef_bound: int = 20
    max_terms: int = 10

    @property
    def f_basis(self) -> np.ndarray:
        return monomial_basis(self.n_max, 1, self.f_degree)

    @property
    def v_basis(self) -> np.ndarray:
        return monomial_basis(self.n_max, 2, self.v_degree)

    @property
    def mf(self) -> int:
        return len(self.f_basis)

    @property
    def mv(self) -> int:
        return len(self.v_basis)

    @property
    def width(self) -> int:
        return HEADER + self.n_max * self.mf + self.mv

    @property
    def f_slice(self) -> slice:
        return slice(HEADER, HEADER + self.n_max * self.mf)

    @property
    def v_slice(self) -> slice:
        return slice(HEADER + self.n_max * self.mf, self.width)

    def empty(self, rows: int) -> np.ndarray:
        out = np.zeros((rows, self.width), dtype=np.float64)
        out[:, 1:HEADER] = (self.n_max, self.f_degree, self.v_degree, self.coef_bound, self.max_terms)
        return out

    def system_of(self, row: np.ndarray) -> tuple[int, np.ndarray]:
        """(n, f coefficients as (n_max, mf))."""
        return int(row[0]), row[self.f_slice].reshape(self.n_max, self.mf)

    def v_of(self, row: np.ndarray) -> np.ndarray:
        return row[self.v_slice]

    def vars_ok_mask(self, basis: np.ndarray, n: int) -> np.ndarray:
        """Basis monomials that use only x0..x(n-1)."""
        return ~(basis[:, n:] > 0).any(axis=1)


# ---- sympy <-> dict {exponent tuple: Fraction} <-> coefficient vectors ----------------------

def poly_dict(expr: sp.Expr, n: int) -> dict[tuple[int, ...], Fraction]:
    """Exact coefficients of a polynomial expression in x0..x(n-1)."""
    poly = sp.Poly(sp.expand(expr), *symbols(n))
    out = {}
    for monom, coeff in poly.terms():
        q = sp.Rational(coeff)
        out[tuple(int(e) for e in monom)] = Fraction(int(q.p), int(q.q))
    return out


def dict_to_expr(d: dict[tuple[int, ...], Fraction], n: int) -> sp.Expr:
    xs = symbols(n)
    return sp.Add(*[sp.Rational(c.numerator, c.denominator) * sp.Mul(*[x**e for x, e in zip(xs, m)])
                    for m, c in d.items() if c != 0])


def vector_to_dict(coeffs: np.ndarray, basis: np.ndarray, n: int) -> dict[tuple[int, ...], Fraction]:
    """Numeric coefficients -> exact dict (floats are converted exactly; integers stay integers)."""
    out = {}
    for c, e in zip(coeffs, basis):
        if c != 0:
            out[tuple(int(v) for v in e[:n])] = Fraction(float(c)).limit_denominator(10**12)
    return out


def dict_to_vector(d: dict[tuple[int, ...], Fraction], basis: np.ndarray) -> np.ndarray:
    """Exact dict -> coefficients over `basis`; raises KeyError for a monomial outside it."""
    n_max = basis.shape[1]
    index = basis_index(n_max, int(basis.sum(axis=1).min()), int(basis.sum(axis=1).max()))
    out = np.zeros(len(basis), dtype=np.float64)
    for m, c in d.items():
        key = tuple(m) + (0,) * (n_max - len(m))
        out[index[key]] = float(c)
    return out


def vector_to_expr(coeffs: np.ndarray, basis: np.ndarray, n: int) -> sp.Expr:
    return dict_to_expr(vector_to_dict(coeffs, basis, n), n)


def system_exprs(layout: Layout, row: np.ndarray) -> list[sp.Expr]:
    n, f = layout.system_of(row)
    return [vector_to_expr(f[i], layout.f_basis, n) for i in range(n)]


def v_expr(layout: Layout, row: np.ndarray) -> sp.Expr:
    return vector_to_expr(layout.v_of(row), layout.v_basis, int(row[0]))


def expr_text(expr: sp.Expr) -> str:
    return str(sp.expand(expr)).replace("**", "^")

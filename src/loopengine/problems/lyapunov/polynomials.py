"""The one polynomial module: exact sparse polynomials, monomial bases, and the row layout.

Exact form (`PolyDict`): {exponent tuple: Fraction}, zero coefficients never stored. All
arithmetic the family needs (parsing, backward generation, V', certificates) is here, once.
Numeric form (what the C++ kernels read): a coefficient vector over a monomial basis.

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

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np

PolyDict = dict[tuple[int, ...], Fraction]
HEADER = 6  # n, n_max, f_degree, v_degree, coef_bound, max_terms


def _compositions(total: int, parts: int):
    """Exponent tuples of `parts` entries summing to `total`, x0's exponent largest first."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


@cache
def monomial_basis(nvars: int, lo: int, hi: int) -> np.ndarray:
    """(M, nvars) int32 exponents of all monomials with lo <= degree <= hi, graded order."""
    rows = [c for d in range(lo, hi + 1) for c in _compositions(d, nvars)]
    out = np.array(rows, dtype=np.int32).reshape(len(rows), nvars)
    out.setflags(write=False)
    return out


@cache
def basis_index(nvars: int, lo: int, hi: int) -> dict[tuple[int, ...], int]:
    return {tuple(int(e) for e in row): i for i, row in enumerate(monomial_basis(nvars, lo, hi))}


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



# ---- exact arithmetic -----------------------------------------------------------------------

def constant(c: Fraction, n: int) -> PolyDict:
    return {(0,) * n: Fraction(c)} if c else {}


def variable(i: int, n: int) -> PolyDict:
    return {tuple(int(k == i) for k in range(n)): Fraction(1)}


def scale(p: PolyDict, c: Fraction) -> PolyDict:
    return {m: c * v for m, v in p.items()} if c else {}


def primitive(p: PolyDict) -> PolyDict:
    """p times the positive rational that makes its coefficients coprime integers."""
    if not p:
        return p
    den = math.lcm(*(c.denominator for c in p.values()))
    num = math.gcd(*(c.numerator for c in p.values()))
    return scale(p, Fraction(den, num))


def add(a: PolyDict, b: PolyDict, factor: Fraction = Fraction(1)) -> PolyDict:
    """a + factor * b."""
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, Fraction(0)) + factor * c
    return {m: c for m, c in out.items() if c != 0}


def mul(a: PolyDict, b: PolyDict) -> PolyDict:
    out: PolyDict = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(x + y for x, y in zip(ma, mb))
            out[m] = out.get(m, Fraction(0)) + ca * cb
    return {m: c for m, c in out.items() if c != 0}


def power(p: PolyDict, k: int, n: int) -> PolyDict:
    """p**k in n variables by repeated squaring (k >= 0)."""
    out, base = {(0,) * n: Fraction(1)}, p
    while k:
        if k & 1:
            out = mul(out, base)
        k >>= 1
        if k:
            base = mul(base, base)
    return out


def derivative(p: PolyDict, i: int) -> PolyDict:
    out = {}
    for m, c in p.items():
        if m[i] > 0:
            mm = list(m)
            mm[i] -= 1
            out[tuple(mm)] = c * m[i]
    return out


def lie_derivative(v: PolyDict, f: list[PolyDict]) -> PolyDict:
    """V' = sum_i dV/dx_i * f_i, exactly."""
    out: PolyDict = {}
    for i, fi in enumerate(f):
        out = add(out, mul(derivative(v, i), fi))
    return out


def degree(p: PolyDict) -> int:
    return max((sum(m) for m in p), default=0)


def system_degree(system: list[PolyDict]) -> int:
    return max((degree(eq) for eq in system), default=1)


# ---- text and sympy (built from the exact coefficients, never parsed) -----------------------

def graded_order(p: PolyDict) -> list[tuple[tuple[int, ...], Fraction]]:
    return sorted(p.items(), key=lambda mc: (sum(mc[0]), [-e for e in mc[0]]))


def poly_text(p: PolyDict, power_sign: str = "^") -> str:
    """Human text, e.g. '3*x0^2*x1 - x1^2/2'; parse.parse_polynomial reads it back exactly."""
    parts = []
    for m, c in graded_order(p):
        mono = "*".join(f"x{i}" if e == 1 else f"x{i}{power_sign}{e}" for i, e in enumerate(m) if e)
        mag = abs(c)
        num = str(mag.numerator) if mag.denominator == 1 else f"{mag.numerator}/{mag.denominator}"
        if not mono:
            body = num
        elif mag == 1:
            body = mono
        elif mag.denominator == 1:
            body = f"{num}*{mono}"
        elif mag.numerator == 1:
            body = f"{mono}/{mag.denominator}"
        else:
            body = f"{mag.numerator}*{mono}/{mag.denominator}"
        parts.append(("- " if c < 0 else "+ ") + body)
    if not parts:
        return "0"
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def to_sympy(p: PolyDict, n: int):
    """The same polynomial as a sympy expression, assembled from its rationals."""
    import sympy as sp

    xs = sp.symbols(f"x0:{n}")
    return sp.Add(*[sp.Rational(c.numerator, c.denominator) * sp.Mul(*[x**e for x, e in zip(xs, m)])
                    for m, c in p.items() if c != 0])


# ---- exact dict <-> coefficient vectors -----------------------------------------------------

def vector_to_dict(coeffs: np.ndarray, basis: np.ndarray, n: int) -> PolyDict:
    """Numeric coefficients -> dict, each float converted exactly (V rows hold integers; a
    target system is never rebuilt from its row: the exact one is kept beside it)."""
    out = {}
    for c, e in zip(coeffs, basis):
        if c != 0:
            out[tuple(int(v) for v in e[:n])] = Fraction(float(c))
    return out


def dict_to_vector(d: PolyDict, basis: np.ndarray) -> np.ndarray:
    """Exact dict -> float coefficients over `basis` (for the sampler); KeyError outside it."""
    n_max = basis.shape[1]
    index = basis_index(n_max, int(basis.sum(axis=1).min()), int(basis.sum(axis=1).max()))
    out = np.zeros(len(basis), dtype=np.float64)
    for m, c in d.items():
        key = tuple(m) + (0,) * (n_max - len(m))
        out[index[key]] = float(c)
    return out

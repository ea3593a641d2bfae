"""Direct SOS search (the SOSTOOLS `findlyap` approach): V is unknown, one SDP per degree.

For d = 2, 4, ..., max_degree: V = sum of c_a x^a over every monomial of degree 2..d,
      V - P is SOS   with P = sum_i x_i^2 (+ sum_i x_i^d for d > 2): V positive definite and proper
                     (V is scale-free, so eps = 1 loses nothing),
      -V' is SOS     (V' is linear in the c_a).
A solution is a floating-point V; it is rounded to rationals and passed to the same exact
certifier as the loop's candidates, so both are judged identically.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from loopengine.problems.lyapunov.polynomials import monomial_basis
from loopengine.problems.lyapunov.sos import Gram, _solve, certify, lie_derivative

PolyDict = dict[tuple[int, ...], Fraction]


@dataclass
class BaselineResult:
    status: str                  # "certified", "numerically plausible", "not found"
    v: PolyDict | None
    seconds: float
    degree: int | None = None
    certificate: dict = field(default_factory=dict)


def _gram_for(degree_lo: int, degree_hi: int, n: int) -> Gram:
    lo, hi = max(1, (degree_lo + 1) // 2), degree_hi // 2
    return Gram.of([tuple(int(e) for e in r) for r in monomial_basis(n, lo, hi)])


def _coefficient_map(polys: list[PolyDict], monomials: list[tuple[int, ...]]) -> np.ndarray:
    """(len(monomials), len(polys)) matrix: column k = coefficients of polys[k]."""
    index = {m: i for i, m in enumerate(monomials)}
    out = np.zeros((len(monomials), len(polys)))
    for k, p in enumerate(polys):
        for m, c in p.items():
            out[index[m], k] = float(c)
    return out


def solve_degree(system: list[PolyDict], n: int, d: int) -> np.ndarray | None:
    import cvxpy as cp

    vmons = [tuple(int(e) for e in r) for r in monomial_basis(n, 2, d)]
    vdots = [lie_derivative({m: Fraction(1)} , system) for m in vmons]
    pd: PolyDict = {}
    for i in range(n):
        for k in sorted({2, d}):
            e = [0] * n
            e[i] = k
            pd[tuple(e)] = Fraction(1)
    fdeg = max(sum(m) for eq in system for m in eq)
    g1, g2 = _gram_for(2, d, n), _gram_for(2, d + fdeg - 1, n)
    all1 = sorted(set(g1.monomials) | set(vmons) | set(pd))
    all2 = sorted(set(g2.monomials) | {m for p in vdots for m in p})
    c = cp.Variable(len(vmons))
    q1 = cp.Variable((len(g1.basis),) * 2, symmetric=True)
    q2 = cp.Variable((len(g2.basis),) * 2, symmetric=True)
    t = cp.Variable()

    def gram_coeffs(g: Gram, q, monomials):
        rows = {m: i for i, m in enumerate(g.monomials)}
        sel = np.zeros((len(monomials), len(g.monomials)))
        for k, m in enumerate(monomials):
            if m in rows:
                sel[k, rows[m]] = 1.0
        return sel @ (g.a @ cp.vec(q, order="F"))

    v_of = _coefficient_map([{m: Fraction(1)} for m in vmons], all1)
    p_of = _coefficient_map([pd], all1)[:, 0]
    vd_of = _coefficient_map(vdots, all2)
    cons = [gram_coeffs(g1, q1, all1) == v_of @ c - p_of, q1 >> 0,
            gram_coeffs(g2, q2, all2) == -(vd_of @ c), q2 - t * np.eye(len(g2.basis)) >> 0, t <= 1]
    prob = cp.Problem(cp.Maximize(t), cons)
    status = _solve(prob)
    if c.value is None or status not in ("optimal", "optimal_inaccurate") or t.value < -1e-7:
        return None
    return dict(zip(vmons, c.value))


def rounded_candidates(coeffs: dict[tuple[int, ...], float]):
    """Rational V near the solver's: SOS solutions sit on faces of the cone (e.g. a cross term
    that must vanish exactly), where plain rounding fails; so also drop relatively tiny
    coefficients and try small denominators (continued fractions) first. Distinct ones only."""
    scale = max(abs(x) for x in coeffs.values()) or 1.0
    seen = set()
    for denom in (1, 2, 4, 10, 100, 1000, 10**5):
        for threshold in (0.0, 1e-4, 1e-2, 5e-2):
            v = {m: Fraction(x / scale).limit_denominator(denom) for m, x in coeffs.items()
                 if abs(x) > threshold * scale}
            v = {m: q for m, q in v.items() if q != 0}
            key = tuple(sorted(v.items()))
            if v and key not in seen:
                seen.add(key)
                yield v


def find_lyapunov(system: list[PolyDict], n: int, max_degree: int = 4, time_limit: float = 60.0) -> BaselineResult:
    start = time.perf_counter()
    plausible = None
    for d in range(2, max_degree + 1, 2):
        if time.perf_counter() - start > time_limit:
            break
        coeffs = solve_degree(system, n, d)
        if coeffs is None:
            continue
        for v in rounded_candidates(coeffs):
            if time.perf_counter() - start > time_limit:
                break
            cert = certify(v, system, n)
            if cert.status == "certified":
                return BaselineResult("certified", v, time.perf_counter() - start, d, cert.to_json())
            if plausible is None:
                plausible = (v, d, cert.to_json())
    if plausible is not None:
        v, d, cert = plausible
        return BaselineResult("numerically plausible", v, time.perf_counter() - start, d, cert)
    return BaselineResult("not found", None, time.perf_counter() - start)

"""Direct SOS search (the SOSTOOLS `findlyap` approach): V is unknown, one SDP per degree.

For d = 2, 4, ..., max_degree: V = sum of c_a x^a over every monomial of degree 2..d, and
      V = z1^T Q1 z1,  Q1 - t1*I PSD  (z1: monomials of degree 1..d/2; t1 > 0 makes V >= t1*|z1|^2,
                                       positive definite and proper, without naming any term of V),
      -V' = z2^T Q2 z2, Q2 - t2*I PSD, t2 >= 0 (V' is linear in the c_a),
      trace(Q1) = 1 (V is scale-free), maximise t1 + t2 (interior solutions round well).
A solution is a floating-point V; it is rounded to rationals and passed to the same exact
certifier as the loop's candidates (certificate.py), so both are judged identically. The time
limit is enforced: solvers get the time left, and no new step starts after it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from loopengine.problems.lyapunov.certificate import PLAUSIBLE, REJECTED, certify
from loopengine.problems.lyapunov.polynomials import PolyDict, lie_derivative, monomial_basis
from loopengine.problems.lyapunov.sos import Gram, solve


@dataclass
class BaselineResult:
    status: str                  # a certificate status, or "not found" / "time limit"
    v: PolyDict | None
    seconds: float
    degree: int | None = None
    certificate: dict = field(default_factory=dict)


def _gram(lo_degree: int, hi_degree: int, n: int) -> Gram:
    lo, hi = max(1, math.ceil(lo_degree / 2)), max(1, hi_degree // 2)
    return Gram.of([tuple(int(e) for e in r) for r in monomial_basis(n, lo, hi)])


def _coefficient_map(polys: list[PolyDict], monomials: list[tuple[int, ...]]) -> np.ndarray:
    """(len(monomials), len(polys)) matrix: column k = coefficients of polys[k]."""
    index = {m: i for i, m in enumerate(monomials)}
    out = np.zeros((len(monomials), len(polys)))
    for k, p in enumerate(polys):
        for m, c in p.items():
            out[index[m], k] = float(c)
    return out


def solve_degree(system: list[PolyDict], n: int, d: int, time_limit: float | None = None) -> dict | None:
    import cvxpy as cp

    vmons = [tuple(int(e) for e in r) for r in monomial_basis(n, 2, d)]
    vdots = [lie_derivative({m: Fraction(1)}, system) for m in vmons]
    fdeg = max(sum(m) for eq in system for m in eq)
    flo = min(sum(m) for eq in system for m in eq)
    g1, g2 = _gram(2, d, n), _gram(flo + 1, d + fdeg - 1, n)
    all1 = sorted(set(g1.monomials) | set(vmons))
    all2 = sorted(set(g2.monomials) | {m for p in vdots for m in p})
    c = cp.Variable(len(vmons))
    q1 = cp.Variable((len(g1.basis),) * 2, symmetric=True)
    q2 = cp.Variable((len(g2.basis),) * 2, symmetric=True)
    t1, t2 = cp.Variable(), cp.Variable()

    def gram_coeffs(g: Gram, q, monomials):
        rows = {m: i for i, m in enumerate(g.monomials)}
        sel = np.zeros((len(monomials), len(g.monomials)))
        for k, m in enumerate(monomials):
            if m in rows:
                sel[k, rows[m]] = 1.0
        return sel @ (g.a @ cp.vec(q, order="F"))

    v_of = _coefficient_map([{m: Fraction(1)} for m in vmons], all1)
    vd_of = _coefficient_map(vdots, all2)
    cons = [gram_coeffs(g1, q1, all1) == v_of @ c, q1 - t1 * np.eye(len(g1.basis)) >> 0, cp.trace(q1) == 1,
            gram_coeffs(g2, q2, all2) == -(vd_of @ c), q2 - t2 * np.eye(len(g2.basis)) >> 0,
            t2 >= 0, t1 <= 1, t2 <= 1]
    prob = cp.Problem(cp.Maximize(t1 + t2), cons)
    status = solve(prob, time_limit)
    if c.value is None or status not in ("optimal", "optimal_inaccurate") or t1.value is None or t1.value < 1e-9:
        return None
    return dict(zip(vmons, c.value))


def rounded_candidates(coeffs: dict[tuple[int, ...], float]):
    """Rational V near the solver's, finest roundings first (the max-margin solution is
    interior, so a fine rounding usually keeps it valid), then coarser ones and ones that drop
    relatively tiny coefficients (solutions on a face of the cone, e.g. a cross term that must
    vanish exactly). Coefficients are scaled so the largest is 1. Distinct ones only."""
    scale = max(abs(x) for x in coeffs.values()) or 1.0
    seen = set()
    for denom, threshold in ((1000, 0.0), (10**5, 0.0), (100, 0.0), (1000, 1e-4), (10, 0.0), (100, 1e-2),
                             (10, 5e-2), (4, 5e-2), (10**7, 0.0)):
        v = {m: Fraction(round(x / scale * denom), denom) for m, x in coeffs.items() if abs(x) > threshold * scale}
        v = {m: q for m, q in v.items() if q != 0}
        key = tuple(sorted(v.items()))
        if v and key not in seen:
            seen.add(key)
            yield v


def find_lyapunov(system: list[PolyDict], n: int, max_degree: int = 4, time_limit: float = 60.0,
                  max_candidates: int = 8) -> BaselineResult:
    start = time.perf_counter()
    left = lambda: time_limit - (time.perf_counter() - start)  # noqa: E731
    plausible = None
    for d in range(2, max_degree + 1, 2):
        if left() <= 0:
            break
        coeffs = solve_degree(system, n, d, left())
        if coeffs is None:
            continue
        for k, v in enumerate(rounded_candidates(coeffs)):
            if left() <= 0 or k >= max_candidates:
                break
            cert = certify(v, system, n)
            if cert.proven:
                return BaselineResult(cert.status, v, time.perf_counter() - start, d, cert.to_json())
            if cert.status == PLAUSIBLE and plausible is None:
                plausible = (v, d, cert.to_json())
    seconds = time.perf_counter() - start
    if plausible is not None:
        v, d, cert = plausible
        return BaselineResult(PLAUSIBLE, v, seconds, d, cert)
    return BaselineResult("time limit" if left() <= 0 else "not found", None, seconds,
                          certificate={"status": REJECTED})

"""Lyapunov certificates: what is proven about x' = f(x) by a given V, and the data that proves it.

Every proof below is an exact rational SOS identity (sos.py); f and V are the exact rationals
that were typed. With P_k = sum_i x_i^(2 k_i) (k_i >= 1) and rationals eps, delta > 0:

  globally asymptotically stable   V - eps*P_k SOS  and  -V' - delta*P_m SOS
        V >= eps*P_k: V > 0 off the origin and radially unbounded; -V' >= delta*P_m > 0 off the
        origin: V strictly decreases along every nonzero trajectory. Lyapunov's theorem with a
        proper V gives global asymptotic stability. (No LaSalle argument is attempted: when V'
        vanishes off the origin the status is the weaker one below.)
  globally stable                  V - eps*P_k SOS  and  -V' SOS
        V' <= 0: the origin is Lyapunov stable and every trajectory stays in the bounded set
        {V <= V(x(0))}. The center x0' = x1, x1' = -x0 with V = x0^2 + x1^2 is here (V' = 0).
  numerically plausible            the solver found Gram matrices but the exact check failed,
                                   or the budget ran out after the sampler passed
  rejected                         with the reason (V not positive definite, -V' not SOS, ...)

`Certificate.data` holds everything needed to re-check (f, V, eps, the P terms, bases and
Gram matrices as rational strings); `recheck(data)` verifies it from that data alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

from loopengine.problems.lyapunov.polynomials import PolyDict, add, lie_derivative
from loopengine.problems.lyapunov.sos import SOSResult, check_gram, prove_nonnegative

GAS = "globally asymptotically stable"
STABLE = "globally stable"
PLAUSIBLE = "numerically plausible"
REJECTED = "rejected"
PROVEN = (GAS, STABLE)
STATUSES = (GAS, STABLE, PLAUSIBLE, REJECTED)


# ---- polynomials as data ------------------------------------------------------------------

def poly_data(p: PolyDict) -> list:
    """[[exponents, "p/q"], ...] in graded order: JSON-safe and exact."""
    return [[list(m), str(c)] for m, c in sorted(p.items(), key=lambda mc: (sum(mc[0]), mc[0]))]


def poly_from_data(data: list, n: int) -> PolyDict:
    out: PolyDict = {}
    for exps, coef in data:
        m = tuple(int(e) for e in exps)
        if len(m) != n or any(e < 0 for e in m):
            raise ValueError(f"bad monomial {exps!r} for n = {n}")
        out[m] = out.get(m, Fraction(0)) + Fraction(str(coef))
    return {m: c for m, c in out.items() if c != 0}


def axis_powers(p: PolyDict, n: int, pick) -> PolyDict | None:
    """sum_i x_i^(2 k_i) with k_i picked (max or min) among the even pure powers of x_i that
    have a positive coefficient in p; None if some axis has none (p is then not positive on it)."""
    term: PolyDict = {}
    for i in range(n):
        powers = [m[i] for m, c in p.items() if c > 0 and m[i] % 2 == 0 and m[i] > 0 and sum(m) == m[i]]
        if not powers:
            return None
        e = [0] * n
        e[i] = pick(powers)
        term[tuple(e)] = Fraction(1)
    return term


def pd_candidates(p: PolyDict, n: int) -> list[PolyDict]:
    """P terms to try: the highest, then the lowest, pure even power per variable. (Their sum
    is never needed: p - eps*(P_hi + P_lo) SOS implies p - eps*P_hi SOS.)"""
    out = []
    for term in (axis_powers(p, n, max), axis_powers(p, n, min)):
        if term is not None and term not in out:
            out.append(term)
    return out


def prove_with_margin(p: PolyDict, n: int) -> tuple[SOSResult | None, PolyDict | None, bool]:
    """p - eps*P SOS for some P in pd_candidates(p) and rational eps > 0: (proof, P, plausible)."""
    plausible = False
    for term in pd_candidates(p, n):
        res = prove_nonnegative(p, n, term)
        plausible |= res.plausible
        if res.ok:
            return res, term, True
    return None, None, plausible


# ---- the certificate ----------------------------------------------------------------------

@dataclass
class Certificate:
    status: str
    reason: str
    seconds: float
    data: dict = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return self.status in PROVEN

    def to_json(self) -> dict:
        return {"status": self.status, "reason": self.reason, "seconds": round(self.seconds, 3), **self.data}


def _proof(res: SOSResult, term: PolyDict | None = None) -> dict:
    return {"eps": None if res.eps is None else str(res.eps), "P": None if term is None else poly_data(term),
            "basis": [list(b) for b in res.basis], "gram": res.gram}


def certify(v: PolyDict, f: list[PolyDict], n: int) -> Certificate:
    """What V proves about x' = f(x) (exact rational f and V); see the module text."""
    start = time.perf_counter()
    v = {m: Fraction(c) for m, c in v.items() if c != 0}
    f = [{m: Fraction(c) for m, c in eq.items() if c != 0} for eq in f]
    base = {"n": n, "f": [poly_data(eq) for eq in f], "V": poly_data(v)}

    def done(status: str, reason: str, **proofs) -> Certificate:
        return Certificate(status, reason, time.perf_counter() - start, {**base, **proofs})

    if not v:
        return done(REJECTED, "V is zero")
    if any(sum(m) < 2 for m in v):
        return done(REJECTED, "V has a constant or linear term, so it is not positive definite at 0")
    if not pd_candidates(v, n):
        return done(REJECTED, "V is not positive along some coordinate axis (no positive even pure power of "
                              "each variable), so it is not positive definite")
    pos, term, pos_plausible = prove_with_margin(v, n)
    if pos is None and not pos_plausible:
        return done(REJECTED, "V - eps*P is not SOS: positive definiteness / properness not shown")
    minus_vdot = {m: -c for m, c in lie_derivative(v, f).items()}
    strict, dterm, strict_plausible = (None, None, False)
    if minus_vdot:
        strict, dterm, strict_plausible = prove_with_margin(minus_vdot, n)
    weak = prove_nonnegative(minus_vdot, n) if strict is None else None
    if pos is not None and strict is not None:
        return done(GAS, "exact SOS certificates for V - eps*P and -V' - delta*P': V > 0, proper, V' < 0 off 0",
                    positivity=_proof(pos, term), decrease=_proof(strict, dterm))
    if pos is not None and weak is not None and weak.ok:
        why = "V' = 0 identically" if not minus_vdot else "V' < 0 off the origin was not shown (V' may vanish)"
        return done(STABLE, f"exact SOS certificates for V - eps*P and -V': V > 0, proper, V' <= 0; {why}, "
                            "so asymptotic stability is not claimed", positivity=_proof(pos, term),
                    decrease=_proof(weak))
    dec_plausible = strict_plausible or (weak is not None and weak.plausible)
    if (pos is not None or pos_plausible) and dec_plausible:
        what = "V - eps*P" if pos is None else "-V'"
        return done(PLAUSIBLE, f"the solver found SOS decompositions but the exact check of {what} failed")
    return done(REJECTED, f"-V' is not SOS, V' <= 0 not shown ({weak.note if weak else ''})")


def recheck(data: dict) -> str:
    """Re-verify an archived certificate from its data alone; returns the status it proves
    (GAS or STABLE) or REJECTED. Reads only exponents and rational strings."""
    try:
        n = int(data["n"])
        f = [poly_from_data(eq, n) for eq in data["f"]]
        v = poly_from_data(data["V"], n)
        pos, dec = data.get("positivity"), data.get("decrease")
        if not pos or not dec or any(sum(m) < 2 for m in v):
            return REJECTED
        if not _margin_ok(pos, v, n, need_margin=True):
            return REJECTED
        minus_vdot = {m: -c for m, c in lie_derivative(v, f).items()}
        if dec.get("eps") is not None:
            return GAS if _margin_ok(dec, minus_vdot, n, need_margin=True) else REJECTED
        return STABLE if _margin_ok(dec, minus_vdot, n, need_margin=False) else REJECTED
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return REJECTED


def _margin_ok(proof: dict, p: PolyDict, n: int, need_margin: bool) -> bool:
    """proof shows p - eps*P SOS with eps > 0 and P = sum_i x_i^(2k_i), k_i >= 1 (or p SOS)."""
    target = p
    if need_margin:
        eps, term = Fraction(str(proof["eps"])), poly_from_data(proof["P"], n)
        if eps <= 0 or not _is_axis_sum(term, n):
            return False
        target = add(p, term, -eps)
    basis = [tuple(int(e) for e in b) for b in proof["basis"]]
    if any(len(b) != n for b in basis):
        return False
    q = [[Fraction(str(x)) for x in row] for row in (proof["gram"] or [])]
    return check_gram(basis, q, target)


def _is_axis_sum(term: PolyDict, n: int) -> bool:
    """sum_i x_i^(2k_i) (+ more such per axis): each variable has a pure even power, all coefficients > 0."""
    covered = set()
    for m, c in term.items():
        nz = [i for i, e in enumerate(m) if e]
        if c <= 0 or len(nz) != 1 or m[nz[0]] % 2:
            return False
        covered.add(nz[0])
    return covered == set(range(n))

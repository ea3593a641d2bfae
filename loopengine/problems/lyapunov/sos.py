"""Sum-of-squares certificates for Lyapunov functions, checked exactly after solving.

p is SOS iff p = z^T Q z for a vector of monomials z and a positive semidefinite Q (a Gram
matrix). The conic solver (Clarabel through cvxpy) finds a floating-point Q; we never trust
it. The check:
  1. round Q to rationals with denominator D;
  2. project it, exactly, onto the affine space {Q : z^T Q z = p}: the entries (i, j) with
     z_i z_j = x^a form disjoint sets S_a, so the orthogonal projection adds
     (p_a - sum_{S_a} Q_ij) / |S_a| to each entry of S_a;
  3. verify Q is PSD exactly by a rational LDL^T (a zero pivot demands a zero row).
After step 2 z^T Q z equals p identically (by construction, re-verified term by term), so
success is a proof that p >= 0 on R^n. D grows (1e3 .. 1e9) until the check passes or we
give up. To leave room for rounding, the solver maximises the smallest eigenvalue of Q.

A Lyapunov certificate is two such proofs:
  V - eps * sum_i x_i^(2 k_i) is SOS  (eps > 0 rational): V(x) > 0 for x != 0, V radially unbounded;
  -V' = -grad V . f is SOS:                                V' <= 0 on R^n.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.sparse as sps

PolyDict = dict[tuple[int, ...], Fraction]
DENOMINATORS = (10**3, 10**5, 10**7, 10**9)


# ---- exact polynomial helpers ---------------------------------------------------------------

def derivative(p: PolyDict, i: int) -> PolyDict:
    out = {}
    for m, c in p.items():
        if m[i] > 0:
            mm = list(m)
            mm[i] -= 1
            out[tuple(mm)] = c * m[i]
    return out


def add(a: PolyDict, b: PolyDict, scale: Fraction = Fraction(1)) -> PolyDict:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, Fraction(0)) + scale * c
    return {m: c for m, c in out.items() if c != 0}


def mul(a: PolyDict, b: PolyDict) -> PolyDict:
    out: PolyDict = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(x + y for x, y in zip(ma, mb))
            out[m] = out.get(m, Fraction(0)) + ca * cb
    return {m: c for m, c in out.items() if c != 0}


def lie_derivative(v: PolyDict, f: list[PolyDict]) -> PolyDict:
    """V' = sum_i dV/dx_i * f_i, exactly."""
    out: PolyDict = {}
    for i, fi in enumerate(f):
        out = add(out, mul(derivative(v, i), fi))
    return out


# ---- Gram structure -------------------------------------------------------------------------

def half_basis(p: PolyDict, n: int) -> list[tuple[int, ...]]:
    """Monomials z that can appear in an SOS decomposition of p: half the degree range and
    per-variable degree box, then iteratively drop z_i whose square x^(2 b) has coefficient
    <= 0 in p while being reachable only as z_i * z_i (then Q_ii <= 0 forces row i to be 0)."""
    if not p:
        return []
    degs = [sum(m) for m in p]
    lo, hi = math.ceil(min(degs) / 2), max(degs) // 2
    box = [max(m[i] for m in p) // 2 for i in range(n)]
    from loopengine.problems.lyapunov.polynomials import monomial_basis

    cand = [tuple(int(e) for e in row) for row in monomial_basis(n, max(lo, 0), max(hi, 0))
            if all(row[i] <= box[i] for i in range(n))]
    changed = True
    while changed:
        changed = False
        products: dict[tuple[int, ...], int] = {}
        for a in cand:
            for b in cand:
                m = tuple(x + y for x, y in zip(a, b))
                products[m] = products.get(m, 0) + 1
        for z in list(cand):
            sq = tuple(2 * e for e in z)
            if products[sq] == 1 and p.get(sq, 0) <= 0:
                cand.remove(z)
                changed = True
                break
    return cand


@dataclass
class Gram:
    basis: list[tuple[int, ...]]
    monomials: list[tuple[int, ...]]   # every z_i z_j, the rows of `a`
    groups: list[list[tuple[int, int]]]  # S_a for each monomial
    a: Any = None                      # sparse (len(monomials), s*s): coefficient of x^a in z^T Q z

    @staticmethod
    def of(basis: list[tuple[int, ...]]) -> "Gram":
        s = len(basis)
        index: dict[tuple[int, ...], int] = {}
        groups: list[list[tuple[int, int]]] = []
        for i in range(s):
            for j in range(s):
                m = tuple(x + y for x, y in zip(basis[i], basis[j]))
                if m not in index:
                    index[m] = len(groups)
                    groups.append([])
                groups[index[m]].append((i, j))
        rows = [k for k, g in enumerate(groups) for _ in g]
        cols = [j * s + i for g in groups for i, j in g]  # column-major, as cp.vec
        a = sps.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(groups), s * s))
        return Gram(basis, list(index), groups, a)


# ---- exact check ----------------------------------------------------------------------------

def psd_exact(q: list[list[Fraction]]) -> bool:
    """Rational LDL^T: True iff the symmetric matrix q is positive semidefinite."""
    a = [row[:] for row in q]
    s = len(a)
    for k in range(s):
        piv = a[k][k]
        if piv < 0:
            return False
        if piv == 0:
            if any(a[k][j] != 0 for j in range(k + 1, s)):
                return False
            continue
        for i in range(k + 1, s):
            if a[i][k] == 0:
                continue
            factor = a[i][k] / piv
            for j in range(k + 1, s):
                a[i][j] -= factor * a[k][j]
    return True


def gram_polynomial(gram: Gram, q: list[list[Fraction]]) -> PolyDict:
    out: PolyDict = {}
    for m, g in zip(gram.monomials, gram.groups):
        c = sum((q[i][j] for i, j in g), Fraction(0))
        if c != 0:
            out[m] = c
    return out


def round_and_project(gram: Gram, qnum: np.ndarray, p: PolyDict, denom: int) -> list[list[Fraction]]:
    s = len(gram.basis)
    sym = (qnum + qnum.T) / 2
    q = [[Fraction(round(float(sym[i, j]) * denom), denom) for j in range(s)] for i in range(s)]
    for m, g in zip(gram.monomials, gram.groups):
        r = (p.get(m, Fraction(0)) - sum((q[i][j] for i, j in g), Fraction(0))) / len(g)
        if r:
            for i, j in g:
                q[i][j] += r
    return q


def exact_certificate(gram: Gram, qnum: np.ndarray, p: PolyDict) -> list[list[Fraction]] | None:
    for denom in DENOMINATORS:
        q = round_and_project(gram, qnum, p, denom)
        if gram_polynomial(gram, q) == {m: c for m, c in p.items() if c != 0} and psd_exact(q):
            return q
    return None


# ---- solving --------------------------------------------------------------------------------

@dataclass
class SOSResult:
    ok: bool                  # exact certificate found
    plausible: bool           # the solver found a numerically PSD Gram matrix
    basis: list = field(default_factory=list)
    gram: list | None = None  # exact rational Q as strings, when ok
    min_eig: float = float("nan")
    note: str = ""

    def to_json(self) -> dict:
        return {"ok": self.ok, "plausible": self.plausible, "basis": [list(b) for b in self.basis],
                "gram": self.gram, "min_eig": self.min_eig, "note": self.note}


def _solve(problem) -> str:
    import warnings

    import cvxpy as cp

    warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)

    try:
        problem.solve(solver=cp.CLARABEL)
    except (cp.error.SolverError, ValueError):
        try:
            problem.solve(solver=cp.SCS, eps=1e-9, max_iters=20000)
        except (cp.error.SolverError, ValueError) as exc:
            return f"solver failed: {exc}"
    return str(problem.status)


def prove_nonnegative(p: PolyDict, n: int) -> SOSResult:
    """Find and exactly check an SOS decomposition of p (exact rational coefficients)."""
    import cvxpy as cp

    p = {m: c for m, c in p.items() if c != 0}
    if not p:
        return SOSResult(True, True, note="identically zero")
    basis = half_basis(p, n)
    if not basis:
        return SOSResult(False, False, note="no monomial basis: p cannot be a sum of squares")
    gram = Gram.of(basis)
    index = {m: k for k, m in enumerate(gram.monomials)}
    if any(m not in index for m in p):
        return SOSResult(False, False, basis, note="a term of p lies outside the Newton polytope")
    b = np.array([float(p.get(m, 0)) for m in gram.monomials])
    s = len(basis)
    scale = max(1.0, float(np.abs(b).max()))
    Q = cp.Variable((s, s), symmetric=True)
    t = cp.Variable()
    prob = cp.Problem(cp.Maximize(t), [gram.a @ cp.vec(Q, order="F") == b, Q - t * np.eye(s) >> 0, t <= scale])
    status = _solve(prob)
    if Q.value is None or status not in ("optimal", "optimal_inaccurate"):
        return SOSResult(False, False, basis, note=f"solver status {status}")
    qnum = np.asarray(Q.value)
    min_eig = float(np.linalg.eigvalsh((qnum + qnum.T) / 2).min())
    plausible = min_eig > -1e-6 * scale
    exact = exact_certificate(gram, qnum, p)
    if exact is None:
        return SOSResult(False, plausible, basis, min_eig=min_eig, note="exact check failed after rounding")
    return SOSResult(True, True, basis, [[str(x) for x in row] for row in exact], min_eig)


def max_eps(v: PolyDict, pd_term: PolyDict, n: int) -> float:
    """Largest eps (capped) with V - eps * pd_term numerically SOS; 0 if none."""
    import cvxpy as cp

    # basis from V's support (where eps = 0 starts); pd_term's monomials must fit inside it
    basis = half_basis(v, n)
    if not basis:
        return 0.0
    gram = Gram.of(basis)
    index = {m: k for k, m in enumerate(gram.monomials)}
    if any(m not in index for m in {**v, **pd_term}):
        return 0.0
    bv = np.array([float(v.get(m, 0)) for m in gram.monomials])
    bp = np.array([float(pd_term.get(m, 0)) for m in gram.monomials])
    s = len(basis)
    Q = cp.Variable((s, s), PSD=True)
    eps = cp.Variable()
    prob = cp.Problem(cp.Maximize(eps), [gram.a @ cp.vec(Q, order="F") == bv - eps * bp, eps <= 1.0])
    status = _solve(prob)
    if eps.value is None or status not in ("optimal", "optimal_inaccurate"):
        return 0.0
    return max(0.0, float(eps.value))


def pd_terms(v: PolyDict, n: int) -> list[PolyDict]:
    """Candidate sum_i x_i^(2 k_i): with the highest, then the lowest, even pure power of each
    variable in V. Either choice makes V >= eps * term imply positive definite + radially unbounded."""
    out = []
    for pick in (max, min):
        term: PolyDict = {}
        for i in range(n):
            powers = [m[i] for m, c in v.items() if c > 0 and m[i] % 2 == 0 and m[i] > 0
                      and sum(m) == m[i]]
            if not powers:
                return []  # V vanishes or is not positive along the x_i axis
            e = [0] * n
            e[i] = pick(powers)
            term[tuple(e)] = Fraction(1)
        if term not in out:
            out.append(term)
    return out


@dataclass
class Certificate:
    status: str               # "certified", "numerically plausible", "rejected"
    reason: str
    seconds: float
    eps: str | None = None
    pd_term: str | None = None
    positivity: dict | None = None
    decrease: dict | None = None

    def to_json(self) -> dict:
        return {"status": self.status, "reason": self.reason, "seconds": round(self.seconds, 3), "eps": self.eps,
                "pd_term": self.pd_term, "positivity": self.positivity, "decrease": self.decrease}


def _fmt(term: PolyDict) -> str:
    return " + ".join("*".join(f"x{i}^{e}" for i, e in enumerate(m) if e) for m in term)


def certify(v: PolyDict, f: list[PolyDict], n: int) -> Certificate:
    """Certify that V is a global Lyapunov function (V > 0, proper, V' <= 0) for x' = f(x)."""
    start = time.perf_counter()
    done = lambda status, reason, **kw: Certificate(status, reason, time.perf_counter() - start, **kw)  # noqa: E731
    v = {m: Fraction(c) for m, c in v.items() if c != 0}
    if not v:
        return done("rejected", "V is zero")
    if any(sum(m) < 2 for m in v):
        return done("rejected", "V has a constant or linear term, so it is not positive definite at 0")
    terms = pd_terms(v, n)
    if not terms:
        return done("rejected", "V is not positive along some coordinate axis")
    positivity, chosen, eps_used, plausible_pos = None, None, None, False
    for term in terms:
        eps = max_eps(v, term, n)
        if eps <= 1e-7:
            continue
        eps_q = Fraction(eps / 2).limit_denominator(10**6)
        res = prove_nonnegative(add(v, term, -eps_q), n)
        plausible_pos |= res.plausible
        if res.ok:
            positivity, chosen, eps_used = res, term, eps_q
            break
    vdot = lie_derivative(v, f)
    decrease = prove_nonnegative({m: -c for m, c in vdot.items()}, n)
    if positivity is not None and decrease.ok:
        return done("certified", "exact rational SOS certificates for V - eps*P and -V'",
                    eps=str(eps_used), pd_term=_fmt(chosen), positivity=positivity.to_json(),
                    decrease=decrease.to_json())
    pos_ok = positivity is not None or plausible_pos
    if pos_ok and decrease.plausible:
        what = "V - eps*P" if positivity is None else "-V'"
        return done("numerically plausible", f"solver found SOS decompositions but the exact check of {what} failed",
                    decrease=decrease.to_json())
    why = "V - eps*P is not SOS (positivity/properness not shown)" if not pos_ok else f"-V' is not SOS ({decrease.note})"
    return done("rejected", why, decrease=decrease.to_json())

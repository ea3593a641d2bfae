"""Sum-of-squares proofs that a polynomial is nonnegative, checked exactly after solving.

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

The basis z is kept small, which also removes the directions where Q must be singular (an
exact PSD check of a rounded singular matrix fails): z must lie in half the Newton polytope
of p (a linear program per monomial), and a z_i whose square is reachable only as z_i*z_i
with coefficient <= 0 in p is dropped (Q_ii <= 0 forces row i to zero). After a solve, rows
whose diagonal the solver drove to ~0 are dropped too and the problem re-solved: a simple
facial reduction for the typical singular case, a monomial that cannot appear in any square.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.sparse as sps

from loopengine.problems.lyapunov.polynomials import PolyDict, monomial_basis

DENOMINATORS = (10**3, 10**5, 10**7, 10**9)
FACIAL_ROUNDS = 3


# ---- Gram structure -------------------------------------------------------------------------

def in_half_newton_polytope(points: np.ndarray, cands: list[tuple[int, ...]]) -> list[bool]:
    """For each z: is 2z in the convex hull of `points` (the exponents of p)? Facets of the
    hull in its affine span (qhull); a linear program per z if qhull cannot build it."""
    targets = 2 * np.asarray(cands, dtype=float).reshape(len(cands), points.shape[1])
    center = points.mean(axis=0)
    _, sing, vt = np.linalg.svd(points - center, full_matrices=False)
    rank = int((sing > 1e-9 * max(1.0, sing.max(initial=0.0))).sum())
    span = vt[:rank]
    rel = targets - center
    inside_span = np.abs(rel - (rel @ span.T) @ span).max(axis=1, initial=0.0) < 1e-7
    pc, tc = (points - center) @ span.T, rel @ span.T
    if rank == 0:
        return [bool(ok) and bool(np.allclose(t, 0.0)) for ok, t in zip(inside_span, rel)]
    if rank == 1:
        lo, hi = pc.min() - 1e-9, pc.max() + 1e-9
        return [bool(ok and lo <= t[0] <= hi) for ok, t in zip(inside_span, tc)]
    try:
        from scipy.spatial import ConvexHull

        eq = ConvexHull(pc).equations
        return [bool(ok and (eq[:, :-1] @ t + eq[:, -1] <= 1e-7).all()) for ok, t in zip(inside_span, tc)]
    except Exception:  # qhull refuses some degenerate inputs; the LP answers the same question
        return [bool(ok) and _in_hull_lp(points, t) for ok, t in zip(inside_span, targets)]


def _in_hull_lp(points: np.ndarray, target: np.ndarray) -> bool:
    from scipy.optimize import linprog

    k = len(points)
    a_eq = np.vstack([points.T.astype(float), np.ones((1, k))])
    res = linprog(np.zeros(k), A_eq=a_eq, b_eq=np.concatenate([target, [1.0]]), bounds=(0, None), method="highs")
    return res.status == 0


def half_basis(p: PolyDict, n: int) -> list[tuple[int, ...]]:
    """Monomials z that can appear in an SOS decomposition of p (see the module text)."""
    if not p:
        return []
    degs = [sum(m) for m in p]
    lo, hi = math.ceil(min(degs) / 2), max(degs) // 2
    box = [max(m[i] for m in p) // 2 for i in range(n)]
    low = [min(m[i] for m in p) for i in range(n)]
    points = np.array(list(p), dtype=float).reshape(len(p), n)
    cand = [tuple(int(e) for e in row) for row in monomial_basis(n, max(lo, 0), max(hi, 0))
            if all(2 * row[i] >= low[i] and row[i] <= box[i] for i in range(n))]
    if cand:
        cand = [z for z, ok in zip(cand, in_half_newton_polytope(points, cand)) if ok]
    return drop_unsquarable(p, cand)


def drop_unsquarable(p: PolyDict, cand: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Iteratively drop z whose square x^(2z) has coefficient <= 0 in p and arises only as z*z."""
    cand = list(cand)
    products: dict[tuple[int, ...], int] = {}
    for a in cand:
        for b in cand:
            m = tuple(x + y for x, y in zip(a, b))
            products[m] = products.get(m, 0) + 1
    alive = set(cand)
    changed = True
    while changed:
        changed = False
        for z in [c for c in cand if c in alive]:
            sq = tuple(2 * e for e in z)
            if products[sq] == 1 and p.get(sq, 0) <= 0:
                alive.discard(z)
                for b in alive | {z}:  # z*b and b*z (z*z once) leave the product counts
                    m = tuple(x + y for x, y in zip(z, b))
                    products[m] -= 1 if b == z else 2
                changed = True
    return [c for c in cand if c in alive]


@dataclass
class Gram:
    basis: list[tuple[int, ...]]
    monomials: list[tuple[int, ...]]   # every z_i z_j, the rows of `a`
    groups: list[list[tuple[int, int]]]  # S_a for each monomial
    a: Any = None                      # sparse (len(monomials), s*s): coefficient of x^a in z^T Q z

    @staticmethod
    def of(basis: list[tuple[int, ...]]) -> Gram:
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
    """True iff the symmetric rational matrix q is positive semidefinite, exactly.
    Fraction-free (Bareiss) symmetric elimination on the integer matrix L*q (L = common
    denominator): entries stay the size of minors instead of growing like Fractions do. A
    zero pivot demands a zero row (a PSD matrix with q_kk = 0 has q_kj = 0); that row and
    column are then dropped, which keeps the later exact divisions exact."""
    s = len(q)
    denom = 1
    for row in q:
        for x in row:
            denom = denom * x.denominator // math.gcd(denom, x.denominator)
    a = [[x.numerator * (denom // x.denominator) for x in row] for row in q]
    alive = list(range(s))
    prev = 1
    while alive:
        k = alive[0]
        piv = a[k][k]
        rest = alive[1:]
        if piv < 0:
            return False
        if piv == 0:
            if any(a[k][j] != 0 for j in rest):
                return False
            alive = rest
            continue
        for i in rest:
            aik = a[i][k]
            row_i, row_k = a[i], a[k]
            for j in rest:
                row_i[j] = (piv * row_i[j] - aik * row_k[j]) // prev
        prev = piv
        alive = rest
    return True


def nearly_psd(q: list[list[Fraction]], scale: float) -> bool:
    """A float pre-check before the exact one: only ever skips work, never certifies."""
    m = np.array([[float(x) for x in row] for row in q])
    return len(m) == 0 or float(np.linalg.eigvalsh(m).min()) > -1e-9 * scale
def gram_polynomial(gram: Gram, q: list[list[Fraction]]) -> PolyDict:
    out: PolyDict = {}
    for m, g in zip(gram.monomials, gram.groups):
        c = sum((q[i][j] for i, j in g), Fraction(0))
        if c != 0:
            out[m] = c
    return out


def check_gram(basis: list[tuple[int, ...]], q: list[list[Fraction]], p: PolyDict) -> bool:
    """The whole proof that p >= 0, from data only: z^T Q z == p term by term and Q is PSD."""
    if len(q) != len(basis) or any(len(row) != len(basis) for row in q):
        return False
    if any(q[i][j] != q[j][i] for i in range(len(q)) for j in range(i)):
        return False
    target = {m: c for m, c in p.items() if c != 0}
    if not basis:
        return not target
    return gram_polynomial(Gram.of(basis), q) == target and psd_exact(q)


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
    scale = max([1.0, *(abs(float(c)) for c in p.values())])
    for denom in DENOMINATORS:
        q = round_and_project(gram, qnum, p, denom)
        if nearly_psd(q, scale) and check_gram(gram.basis, q, p):
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
    eps: Fraction | None = None  # the margin, when proving p - eps*term SOS

    def to_json(self) -> dict:
        return {"ok": self.ok, "plausible": self.plausible, "basis": [list(b) for b in self.basis],
                "gram": self.gram, "min_eig": self.min_eig, "note": self.note,
                "eps": None if self.eps is None else str(self.eps)}


def solve(problem, time_limit: float | None = None) -> str:
    """Clarabel, SCS as the fallback; returns the status text (never raises for solver trouble).
    time_limit (seconds) is passed to the solvers, which stop on their own when it is reached."""
    import warnings

    import cvxpy as cp

    warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
    limit = {} if time_limit is None else {"time_limit": max(0.1, float(time_limit))}
    try:
        problem.solve(solver=cp.CLARABEL, **limit)
    except (cp.error.SolverError, ValueError, ArithmeticError):
        try:
            scs_limit = {} if time_limit is None else {"time_limit_secs": max(0.1, float(time_limit))}
            problem.solve(solver=cp.SCS, eps=1e-9, max_iters=20000, **scs_limit)
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            return f"solver failed: {exc}"
    return str(problem.status)


def _solve_gram(gram: Gram, p: PolyDict, term: PolyDict | None):
    """Gram matrix for p - eps*term maximising t = min(smallest eigenvalue, eps) (eps = 0 when
    term is None): an interior point, so rounding it keeps it PSD. (Q, eps, status, scale)."""
    import cvxpy as cp

    b = np.array([float(p.get(m, 0)) for m in gram.monomials])
    s = len(gram.basis)
    scale = max(1.0, float(np.abs(b).max()))
    Q = cp.Variable((s, s), symmetric=True)
    t = cp.Variable()
    cons = [Q - t * np.eye(s) >> 0, t <= scale]
    eps = None
    if term is None:
        cons.append(gram.a @ cp.vec(Q, order="F") == b)
    else:
        bt = np.array([float(term.get(m, 0)) for m in gram.monomials])
        eps = cp.Variable()
        cons += [gram.a @ cp.vec(Q, order="F") == b - eps * bt, eps >= t, eps <= scale]
    status = solve(cp.Problem(cp.Maximize(t), cons))
    if Q.value is None or status not in ("optimal", "optimal_inaccurate"):
        return None, None, status, scale
    return np.asarray(Q.value), None if eps is None else float(eps.value), status, scale


def small_rational(x: float) -> Fraction:
    """A short rational in (x/2, x] for x > 0."""
    q = Fraction(x).limit_denominator(10**6)
    return q if x / 2 < q <= x else Fraction(x)


def prove_nonnegative(p: PolyDict, n: int, term: PolyDict | None = None) -> SOSResult:
    """Find and exactly check an SOS decomposition of p, or with `term`, of p - eps*term for
    some rational eps > 0 (found by the same SDP). Exact rational coefficients in, proof out."""
    p = {m: c for m, c in p.items() if c != 0}
    if not p:
        return SOSResult(term is None, term is None, note="identically zero")
    basis = half_basis(p, n)
    best = SOSResult(False, False, basis, note="no monomial basis: p cannot be a sum of squares")
    for _ in range(FACIAL_ROUNDS):
        if not basis:
            return best
        gram = Gram.of(basis)
        products = set(gram.monomials)
        if any(m not in products for m in [*p, *(term or {})]):
            return SOSResult(False, best.plausible, basis, note="a term lies outside the Newton polytope of the basis")
        qnum, eps, status, scale = _solve_gram(gram, p, term)
        if qnum is None:
            return SOSResult(False, best.plausible, basis, note=f"solver status {status}")
        sym = (qnum + qnum.T) / 2
        min_eig = float(np.linalg.eigvalsh(sym).min())
        plausible = min_eig > -1e-6 * scale
        target, eps_q = p, None
        if term is not None:
            if eps is None or eps <= 1e-10 * scale or min_eig <= 0:
                return SOSResult(False, False, basis, min_eig=min_eig, note="no positive margin eps")
            eps_q = small_rational(eps / 2)
            target = {m: c for m, c in p.items()}
            for m, c in term.items():
                target[m] = target.get(m, Fraction(0)) - eps_q * c
            target = {m: c for m, c in target.items() if c != 0}
        exact = exact_certificate(gram, qnum, target)
        if exact is not None:
            return SOSResult(True, True, basis, [[str(x) for x in row] for row in exact], min_eig, eps=eps_q)
        best = SOSResult(False, plausible, basis, min_eig=min_eig, note="exact check failed after rounding")
        # facial reduction: a row whose diagonal is ~0 is zero in every Gram matrix near this one
        keep = [z for z, d in zip(basis, np.diag(sym)) if d > 1e-7 * scale]
        keep = drop_unsquarable(p, keep)
        if len(keep) == len(basis):
            break
        basis = keep
    return best

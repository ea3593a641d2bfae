"""Search for V as the unknown of small SDPs: quadratic forms in pure powers (and in mixed
monomials read off f) with a sparse V'.

The families: V = z^T Q z with z = (x_i^k : 1 <= k <= K) and Q PSD, i.e. any V whose monomials
are products x_i^k x_j^l (11 x0^4 + 18 x0^2 x1^5 + 10 x1^10 is one, with z = (x0^2, x1^5));
then the same z with the mixed monomials whose squares f suggests (mixed_squares).
V' is linear in the coefficients c of V. The plain approach (baseline.py) asks -V' to be SOS
over every monomial its degree allows; for V' of degree 20+ that Gram matrix is far too big.
But a good V typically makes V' collapse to a few terms (-(h dV/dx)^2 and the like), so:

  1. a small conic program (only Q is a matrix variable) makes V' sparse, in the shape of
     -(sum of squares): minimise a weighted L1 norm of V''s coefficients in which negative
     terms on even monomials (a square's diagonal) cost little; every axis power sum
     sum_k c(x_i^2k) >= 1 (V grows along every axis); reweighted a few times;
  2. the -V' Gram basis w comes from that sparse V' (half its Newton polytope, sparse);
     every monomial of V' outside w*w must then vanish: linear equalities, solved exactly
     (exact_linear.null_space) so that c = N y;
  3. one SDP in y, Q (V = z^T Q z) and R (-V' = w^T R w): small, because z and w are;
  4. y is rounded to rationals; c = N y keeps the cancellations exact; each rounding is a
     candidate V for certificate.certify, which decides everything exactly, as for any V.
Floats live only inside the LP and SDP; nothing here is trusted (the certifier is).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from loopengine.problems.lyapunov.exact_linear import null_space
from loopengine.problems.lyapunov.polynomials import PolyDict, lie_derivative
from loopengine.problems.lyapunov.sos import Gram, half_basis, solve

REWEIGHT_ROUNDS = 4
REWEIGHT_DELTA = 1e-2
EVEN_WEIGHT = 0.1
FACIAL_ROUNDS = 3
MAX_GRAM = 40          # largest -V' Gram basis worth an SDP here (Clarabel cost grows like s^6)
DENOMINATORS = (1, 10, 100, 10**4, 10**6)
# Spread of the random restarts' first weights (log-normal). Which sparse V' the reweighted L1
# settles on depends on where it starts. With restarts the loop proves 125 of the 200 BPoly
# systems instead of 117 (benchmarks/results/lyapunov_meta_bpoly_restarts.json).
RESTART_SIGMA = 1.0


def pure_powers(n: int, k: int) -> list[tuple[int, ...]]:
    return [tuple(j if v == i else 0 for v in range(n)) for i in range(n) for j in range(1, k + 1)]


def graded(monomials) -> list[tuple[int, ...]]:
    """The distinct monomials, by total degree, then lexicographically."""
    return sorted(set(monomials), key=lambda m: (sum(m), m))


def mixed_squares(f: list[PolyDict], n: int, k: int) -> list[tuple[int, ...]]:
    """Mixed monomials m of degree <= k whose square m^2 is a monomial of f_i x_j / x_l for some
    i, j, l (j = l included). Pure powers cannot give V a term like x1^2 x2^8 = (x1 x2^4)^2 with
    Q PSD. Backward-built systems carry V's gradient in f (f_i = h dV/dx_j + ..., h often a
    constant or a variable), so V's square terms show up in f x_j / x_l: this rule covers the
    mixed squares of 189 of the 200 BPoly reference V (pure powers alone: 128) at about 7 extra
    monomials per system, where all monomials of degree <= k would be far too many for n >= 3."""
    up = {m for p in f for m in p}
    up |= {tuple(e + (v == j) for v, e in enumerate(m)) for m in up for j in range(n)}
    seen = up | {tuple(e - (v == j) for v, e in enumerate(m)) for m in up for j in range(n) if m[j]}
    halves = {tuple(e // 2 for e in m) for m in seen if all(e % 2 == 0 for e in m)}
    return graded(m for m in halves if sum(1 for e in m if e) > 1 and sum(m) <= k)


def families(f: list[PolyDict], n: int, max_power: int) -> list[list[list[tuple[int, ...]]]]:
    """The z the search tries, in two tiers: pure powers for K = 1..max_power (small and fast),
    then pure powers with the mixed squares of f (mixed_squares) where there are any."""
    pure = [pure_powers(n, k) for k in range(1, max_power + 1)]
    mixed = []
    for k in range(1, max_power + 1):
        extra = mixed_squares(f, n, k)
        if extra:
            mixed.append(graded(pure[k - 1] + extra))
    return [pure, mixed]


def products(basis: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    return graded(tuple(a + b for a, b in zip(p, q)) for p in basis for q in basis)


class _LieMap:
    """The linear map from V's coefficients (over `support`) to V''s coefficients (over `out`)."""

    def __init__(self, f: list[PolyDict], n: int, z: list[tuple[int, ...]]) -> None:
        self.n, self.z = n, z
        self.support = products(z)
        lies = [lie_derivative({a: Fraction(1)}, f) for a in self.support]
        self.out = graded(m for p in lies for m in p)
        self.row = {m: i for i, m in enumerate(self.out)}
        self.exact: dict[tuple[int, ...], dict[int, Fraction]] = {}  # V' monomial -> {column: coefficient}
        for j, p in enumerate(lies):
            for m, c in p.items():
                self.exact.setdefault(m, {})[j] = c
        self.a = np.zeros((len(self.out), len(self.support)))
        for m, cols in self.exact.items():
            for j, c in cols.items():
                self.a[self.row[m], j] = float(c)
        self.even = np.array([float(all(e % 2 == 0 for e in m)) for m in self.out])
        self.axes = [[j for j, a in enumerate(self.support) if a[i] == sum(a) and a[i] % 2 == 0] for i in range(n)]
        self.step1 = None  # step 1's compiled program (sparse_vdots), built on first use


def sparse_vdots(fam: _LieMap, time_limit: float, rounds: int = REWEIGHT_ROUNDS,
                 rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Step 1: coefficients c of V = z^T Q z (Q PSD) minimising a weighted sum of |V'_m|, with
    every axis power sum >= 1. First weights: each row of the map scaled to max 1 (terms weigh
    alike), or with rng, those times a random log-normal factor per term (a restart: another
    sparse V' the reweighting may settle on); then reweighted by 1/(|V'_m| + delta), which drives
    small terms to exactly 0 (an L1 solution is sparse, but not always the sparsest;
    reweighting moves it towards that)."""

    start = time.perf_counter()
    scale = np.abs(fam.a).max(axis=1, initial=0.0)
    scale[scale == 0] = 1.0
    weights = 1.0 / scale
    if rng is not None:
        weights = weights * np.exp(RESTART_SIGMA * rng.standard_normal(len(weights)))
    if fam.step1 is None:
        fam.step1 = _step1_program(fam)
    problem, c, wpar = fam.step1
    for _ in range(rounds):
        left = time_limit - (time.perf_counter() - start)
        wpar.value = weights
        status = solve(problem, left)
        if c.value is None or status not in ("optimal", "optimal_inaccurate"):
            return
        yield np.asarray(c.value)
        relative = np.abs(fam.a @ c.value) / scale  # |V'_m| against the row's scale
        weights = 1.0 / (scale * (relative + REWEIGHT_DELTA))


def _step1_program(fam: _LieMap):
    """Step 1's conic program with the weights as a parameter: cvxpy compiles it once per
    family, and each reweighting or restart only re-solves (compiling was half of the search's
    time)."""
    import cvxpy as cp

    q, c, gram_eq = _gram_variable(fam)
    cons = gram_eq + [q >> 0, cp.norm(c, "inf") <= 100] + [cp.sum(c[cols]) >= 1 for cols in fam.axes]
    wpar = cp.Parameter(len(fam.out), nonneg=True)
    vdot = cp.multiply(wpar, fam.a @ c)
    # V' = -(a sum of squares) is the goal: a negative term on an even monomial (a square's
    # diagonal) costs little, any other term (cross terms must cancel or pair up) costs fully
    cost = cp.norm1(cp.multiply(1 - fam.even, vdot)) + cp.sum(cp.multiply(fam.even, cp.pos(vdot))) \
        + EVEN_WEIGHT * cp.norm1(cp.multiply(fam.even, vdot))
    return cp.Problem(cp.Minimize(cost), cons), c, wpar


def _gram_variable(fam: _LieMap, c=None):
    """(Q, c, [constraint]) with V = z^T Q z, c = V's coefficients over fam.support (a new
    variable unless given)."""
    import cvxpy as cp

    gz = Gram.of(fam.z)
    sidx = {m: j for j, m in enumerate(fam.support)}
    pick = np.zeros((len(gz.monomials), len(fam.support)))
    for r, m in enumerate(gz.monomials):
        pick[r, sidx[m]] = 1.0
    q = cp.Variable((len(fam.z),) * 2, symmetric=True)
    if c is None:
        c = cp.Variable(len(fam.support))
    return q, c, [gz.a @ cp.vec(q, order="F") == pick @ c]


def _vdot_basis(fam: _LieMap, c: np.ndarray, trust_signs: bool) -> list[tuple[int, ...]]:
    """Half the Newton polytope of the sparse V' found by step 1. With trust_signs, a square
    monomial whose coefficient is not negative leaves the basis (it cannot be a square's
    diagonal in -V'); without, the signs of the approximate V' are ignored: step 1 often ends
    with a small wrong-signed diagonal term (+x1^4 where the true V' has -16 x1^4), and dropping
    its root from w then forces every V away (BPoly system 15 is proven only without)."""
    vdot = fam.a @ c
    top = np.abs(vdot).max(initial=0.0)
    if top == 0:
        return []
    if trust_signs:
        minus = {m: Fraction(-float(v)) for m, v in zip(fam.out, vdot) if abs(v) > 1e-7 * top}
    else:
        minus = {m: Fraction(abs(float(v))) for m, v in zip(fam.out, vdot) if abs(v) > 1e-7 * top}
    return half_basis(minus, fam.n)


def _dense(basis: list[dict[int, Fraction]], rows: int) -> np.ndarray:
    """The null-space basis as a float matrix (one column per vector), for the solver."""
    out = np.zeros((rows, len(basis)))
    for col, vec in enumerate(basis):
        for j, v in vec.items():
            out[j, col] = float(v)
    return out


def _solve(fam: _LieMap, w: list[tuple[int, ...]], time_limit: float):
    """Steps 2-3: exact null space N of the forced cancellations, then the SDP in y.
    Returns (N as exact vectors, y, R's diagonal) or None."""
    import cvxpy as cp

    keep = set(products(w)) if w else set()
    forced = [fam.exact[m] for m in fam.out if m not in keep]
    basis = null_space(forced, len(fam.support))
    if not basis:
        return None
    nmat = _dense(basis, len(fam.support))
    y = cp.Variable(len(basis))
    c = nmat @ y
    q, _, gram_eq = _gram_variable(fam, c)
    t = cp.Variable()
    cons = gram_eq + [q >> 0, t <= 1]
    cons += [cp.sum(c[cols]) >= 1 for cols in fam.axes]
    r_var = None
    if w:
        gw = Gram.of(w)
        rows = np.zeros((len(gw.monomials), len(fam.support)))
        for r, m in enumerate(gw.monomials):
            if m in fam.row:
                rows[r] = fam.a[fam.row[m]]
        r_var = cp.Variable((len(w),) * 2, symmetric=True)
        cons += [gw.a @ cp.vec(r_var, order="F") == -(rows @ c), r_var - t * np.eye(len(w)) >> 0]
    else:
        cons.append(t <= 0)
    cons.append(cp.norm(y, "inf") <= 1e3)
    status = solve(cp.Problem(cp.Maximize(t), cons), time_limit)
    if y.value is None or status not in ("optimal", "optimal_inaccurate"):
        return None
    diag = None if r_var is None else np.diag(r_var.value)
    return basis, np.asarray(y.value), diag


def _roundings(fam: _LieMap, basis, y: np.ndarray) -> Iterator[PolyDict]:
    """Rational y near the solver's (scaled so V's largest coefficient is about 1), c = N y exactly."""
    nmat = _dense(basis, len(fam.support))
    top = np.abs(nmat @ y).max(initial=0.0)
    if top == 0:
        return
    y = y / top
    seen = set()
    for denom in DENOMINATORS:
        yq = [Fraction(round(float(v) * denom), denom) for v in y]
        c: dict[int, Fraction] = {}
        for col, vec in enumerate(basis):
            if yq[col]:
                for j, v in vec.items():
                    c[j] = c.get(j, Fraction(0)) + yq[col] * v
        v_poly = {fam.support[j]: x for j, x in c.items() if x != 0}
        key = tuple(sorted(v_poly.items()))
        if v_poly and key not in seen:
            seen.add(key)
            yield v_poly


def candidates(f: list[PolyDict], n: int, max_power: int = 6, time_limit: float = 20.0,
               seed: int = 0) -> Iterator[PolyDict]:
    """Candidate V (exact rationals, unverified) for each family of z (families(): K = 1, 2, ...
    max_power pure powers per variable, then with f's mixed squares; V of degree up to 2K),
    within time_limit seconds overall."""
    start = time.perf_counter()
    left = lambda: time_limit - (time.perf_counter() - start)  # noqa: E731
    tried: set[tuple[int, tuple]] = set()
    maps: dict[int, _LieMap] = {}

    def add(z: list[tuple[int, ...]]) -> int:
        maps[len(maps)] = _LieMap(f, n, z)
        return len(maps) - 1

    pure, mixed = families(f, n, max_power)
    yield from (v for v in _passes(maps, [add(z) for z in pure], tried, left) if v is not None)
    # Then two streams share the time left, each getting the next turn while it has used less
    # of it: random restarts of step 1 (each solution through all three bases), and the
    # mixed-square families' three passes. On BPoly, restarts of the pure families prove some
    # systems within seconds (30, 81, 166, 168, 198) and the mixed families others (68, 91, 109,
    # 124, 148, 179): run one after the other, either stream starves the other.
    done = len(maps)

    def restarts() -> Iterator[PolyDict | None]:
        """Round after round over the families, the mixed ones as their passes finish. Seeded
        by `seed`, so a run is reproducible up to where its budget cuts it off."""
        rng = np.random.default_rng(seed)
        while left() > 0:
            for k in range(done):
                fam = maps[k]
                for c in sparse_vdots(fam, left(), rng=rng):
                    w = _vdot_basis(fam, c, trust_signs=False)
                    for basis in (_vdot_basis(fam, c, trust_signs=True), w, _with_axes(fam, w)):
                        yield from _try_basis(fam, basis, k, tried, left)
                    yield None  # a turn ends here even when no basis gave a candidate
                if left() <= 0:
                    return

    def mixed_passes() -> Iterator[PolyDict | None]:
        nonlocal done
        for z in mixed:
            yield from _passes(maps, [add(z)], tried, left)
            done = len(maps)

    yield from _share_time([restarts(), mixed_passes()], left)


def _share_time(streams: list[Iterator[PolyDict | None]], left) -> Iterator[PolyDict]:
    """Items of several generators, the next one always from the generator that has used the
    least time so far, until all end or the time is up. A generator yields None to end its
    turn without an item (so that one long stretch without candidates cannot hold the rest)."""
    spent = [0.0] * len(streams)
    live = list(range(len(streams)))
    while live and left() > 0:
        i = min(live, key=lambda j: spent[j])
        t0 = time.perf_counter()
        try:
            item = next(streams[i])
        except StopIteration:
            live.remove(i)
            continue
        finally:
            spent[i] += time.perf_counter() - t0
        if item is not None:
            yield item


def _passes(maps: dict[int, _LieMap], ids: list[int], tried: set, left) -> Iterator[PolyDict | None]:
    """The three passes over the families `ids`. Pass 1 reads w with the signs of step 1's V';
    pass 2 (same step-1 solutions, kept) without. Pass 2 comes after all of pass 1 so that it
    only adds candidates to what pass 1 yields; likewise pass 3."""
    solutions: list[tuple[int, _LieMap, np.ndarray]] = []
    for k in ids:
        if left() <= 0:
            return
        fam = maps[k]
        for c in sparse_vdots(fam, left()):
            solutions.append((k, fam, c))
            yield from _try_basis(fam, _vdot_basis(fam, c, trust_signs=True), k, tried, left)
            yield None  # the end of a turn (see _share_time)
    unsigned = []
    for k, fam, c in solutions:
        unsigned.append(_vdot_basis(fam, c, trust_signs=False))
        yield from _try_basis(fam, unsigned[-1], k, tried, left)
        yield None
    # Pass 3 aims at "globally asymptotically stable": the sparsest V' often vanishes on an axis
    # (x0' = x1, x1' = -x0 - x1: V' = -2 x1^2), and a w without that axis can never give the
    # strict -V' >= delta * sum x_i^2k; each axis's lowest even power is added to w.
    for (k, fam, _), w in zip(solutions, unsigned):
        yield from _try_basis(fam, _with_axes(fam, w), k, tried, left)


def _with_axes(fam: _LieMap, w: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    out = set(fam.out)
    top = max(sum(m) for m in fam.out) // 2
    extra = []
    for i in range(fam.n):
        for j in range(1, top + 1):
            square = tuple(2 * j if v == i else 0 for v in range(fam.n))
            if square in out:
                extra.append(tuple(j if v == i else 0 for v in range(fam.n)))
                break
    return graded(w + extra)


def _try_basis(fam: _LieMap, w: list[tuple[int, ...]], k: int, tried: set, left) -> Iterator[PolyDict]:
    key = (k, tuple(w))
    if key in tried or left() <= 0:
        return
    tried.add(key)
    yield from _solve_reducing(fam, w, left)


def _solve_reducing(fam: _LieMap, w: list[tuple[int, ...]], left) -> Iterator[PolyDict]:
    """Steps 2-4 for one basis w, with facial reduction: rows of R that the solver drives to 0
    leave w and the SDP is solved again (up to FACIAL_ROUNDS times)."""
    for _ in range(FACIAL_ROUNDS):
        if len(w) > MAX_GRAM or left() <= 0:
            break
        found = _solve(fam, w, left())
        if found is None:
            break
        basis, y, diag = found
        yield from _roundings(fam, basis, y)
        if diag is None:
            break
        small = diag <= 1e-7 * max(1.0, float(np.abs(diag).max(initial=0.0)))
        if not small.any():
            break
        w = [m for m, s in zip(w, small) if not s]

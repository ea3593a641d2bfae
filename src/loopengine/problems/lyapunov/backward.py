"""Backward generation: pick V first, then build a system for which V is a Lyapunov function.

After Alfarano, Charton, Hayat (arXiv 2410.08304), in a simplified integer form:
  V = sum_i a_i x_i^(2 k_i)  (a_i >= 1: positive definite and radially unbounded)
      + sum_j b_j (c_j m_j + c'_j m'_j)^2  (squared cross terms, b_j >= 1)
  f_i = -h_i(x)^2 dV/dx_i + sum_{j != i} g_ij(x) dV/dx_j,   with g_ji = -g_ij.
Then V' = grad V . f = -sum_i h_i^2 (dV/dx_i)^2 + sum_{i<j} g_ij (d_iV d_jV - d_jV d_iV)
        = -sum_i h_i^2 (dV/dx_i)^2 <= 0 by construction, and f(0) = 0 because V has no
linear term. The pair (f, V) is a known-correct training example.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from loopengine.problems.lyapunov.polynomials import PolyDict, add, derivative, mul


@dataclass(frozen=True)
class BackwardSpec:
    n_min: int = 2
    n_max: int = 3
    v_degree: int = 4
    f_degree: int = 3
    proper_coef_max: int = 3
    cross_terms_max: int = 2
    damping_max: int = 2
    rotation_terms_max: int = 1
    coef_bound: int = 20
    max_terms: int = 8
    f_coef_max: int = 99


def _monomial(rng: np.random.Generator, n: int, lo: int, hi: int) -> tuple[int, ...]:
    deg = int(rng.integers(lo, hi + 1))
    e = [0] * n
    for _ in range(deg):
        e[int(rng.integers(n))] += 1
    return tuple(e)


def _sparse_poly(rng, n: int, lo: int, hi: int, terms: int, coef: int) -> PolyDict:
    out: PolyDict = {}
    for _ in range(terms):
        c = int(rng.integers(1, coef + 1)) * (1 if rng.random() < 0.5 else -1)
        out = add(out, {_monomial(rng, n, lo, hi): Fraction(c)})
    return out


def sample_v(rng: np.random.Generator, n: int, spec: BackwardSpec) -> PolyDict:
    top = 2 * int(rng.integers(1, spec.v_degree // 2 + 1))  # this V's degree
    v: PolyDict = {}
    for i in range(n):
        e = [0] * n
        e[i] = 2 * int(rng.integers(1, top // 2 + 1))
        v = add(v, {tuple(e): Fraction(int(rng.integers(1, spec.proper_coef_max + 1)))})
    for _ in range(int(rng.integers(0, spec.cross_terms_max + 1))):
        inner = _sparse_poly(rng, n, 1, top // 2, 2, 2)
        v = add(v, mul(inner, inner), Fraction(int(rng.integers(1, 3))))
    return v


def sample_system(rng: np.random.Generator, v: PolyDict, n: int, spec: BackwardSpec) -> list[PolyDict]:
    grad = [derivative(v, i) for i in range(n)]
    dv = max(sum(m) for m in v)
    room = spec.f_degree - (dv - 1)  # degree left for h^2 and g
    f: list[PolyDict] = [{} for _ in range(n)]
    for i in range(n):
        h: PolyDict = {}
        c = int(rng.integers(0, spec.damping_max + 1))
        if c:
            h = {(0,) * n: Fraction(c)}
        if room >= 2 and rng.random() < 0.5:
            h = add(h, _sparse_poly(rng, n, 1, room // 2, 1, 1))
        f[i] = add(f[i], mul(mul(h, h), grad[i]), Fraction(-1))
    for i in range(n):
        for j in range(i + 1, n):
            for _ in range(int(rng.integers(0, spec.rotation_terms_max + 1))):
                g = _sparse_poly(rng, n, 0, max(room, 0), 1, 2)
                f[i] = add(f[i], mul(g, grad[j]))
                f[j] = add(f[j], mul(g, grad[i]), Fraction(-1))
    return f


def fits(system: list[PolyDict], v: PolyDict, spec: BackwardSpec) -> bool:
    """Within the task's degree, size and coefficient limits (so it can be encoded)."""
    if not any(system) or any(not eq for eq in system):
        return False
    if max(sum(m) for eq in system for m in eq) > spec.f_degree:
        return False
    if any(abs(c) > spec.f_coef_max for eq in system for c in eq.values()):
        return False
    return len(v) <= spec.max_terms and all(abs(c) <= spec.coef_bound for c in v.values())


def backward_example(rng: np.random.Generator, spec: BackwardSpec, tries: int = 200):
    """(n, system, V) with V' <= 0 by construction; raises if the limits admit nothing."""
    for _ in range(tries):
        n = int(rng.integers(spec.n_min, spec.n_max + 1))
        v = sample_v(rng, n, spec)
        f = sample_system(rng, v, n, spec)
        if fits(f, v, spec):
            return n, f, v
    raise RuntimeError("backward generation: no example fits the degree/size limits; loosen them")

"""Forward generation: random sparse polynomial systems with no known answer (targets).

Each equation gets a damping term -a x_i, sparse linear couplings and a few random
nonlinear terms (degree 2..f_degree); with probability 1/2 a cubic damping -x_i^3 too.
Nothing guarantees global stability: these are questions, and the table says which ones
were answered.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from loopengine.problems.lyapunov.backward import _monomial
from loopengine.problems.lyapunov.polynomials import PolyDict, add


def forward_system(rng: np.random.Generator, n: int, f_degree: int, nonlinear_terms: int) -> list[PolyDict]:
    f: list[PolyDict] = []
    for i in range(n):
        unit = [0] * n
        unit[i] = 1
        eq: PolyDict = {tuple(unit): Fraction(-int(rng.integers(1, 4)))}
        if f_degree >= 3 and rng.random() < 0.5:
            cube = [0] * n
            cube[i] = 3
            eq = add(eq, {tuple(cube): Fraction(-1)})
        j = int(rng.integers(n))
        if j != i and rng.random() < 0.7:
            e = [0] * n
            e[j] = 1
            eq = add(eq, {tuple(e): Fraction(int(rng.choice([-2, -1, 1, 2])))})
        for _ in range(int(rng.integers(0, nonlinear_terms + 1))):
            if f_degree >= 2:
                eq = add(eq, {_monomial(rng, n, 2, f_degree): Fraction(int(rng.choice([-1, 1])))})
        f.append(eq if eq else {tuple(unit): Fraction(-1)})
    return f

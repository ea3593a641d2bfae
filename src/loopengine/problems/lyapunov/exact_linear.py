"""Exact rational null spaces of sparse linear systems (rows as {column: Fraction} dicts).

Used to make the floating-point answer of an SDP satisfy linear equalities *exactly*: write
the unknowns as c = N y with N an exact null-space basis of the equalities; any rounding of y
then gives a rational c that satisfies them with no error. Rows are reduced sparsely (the
systems met here are large but have few non-zeros per row), sparsest rows first.
"""
from __future__ import annotations

from fractions import Fraction

SparseRow = dict[int, Fraction]


def _subtract(target: SparseRow, factor: Fraction, row: SparseRow) -> None:
    """target -= factor * row, in place, dropping entries that cancel to zero."""
    for j, v in row.items():
        nv = target.get(j, Fraction(0)) - factor * v
        if nv:
            target[j] = nv
        else:
            target.pop(j, None)


def rref(rows: list[SparseRow]) -> dict[int, SparseRow]:
    """Reduced row echelon form: {pivot column: row with 1 there and 0 in every other pivot column}."""
    pivots: dict[int, SparseRow] = {}
    for row in sorted(rows, key=len):
        r = {j: Fraction(v) for j, v in row.items() if v != 0}
        # Pivot rows are clean in every other pivot column, so eliminating one adds no new
        # pivot column to r: the list of pivots met can be taken once.
        for p in [j for j in r if j in pivots]:
            factor = r.get(p)
            if factor:
                _subtract(r, factor, pivots[p])
        if not r:
            continue
        p = min(r)
        inv = 1 / r[p]
        r = {j: v * inv for j, v in r.items()}
        for other in pivots.values():  # keep every pivot column clean in the older rows
            factor = other.get(p)
            if factor:
                _subtract(other, factor, r)
        pivots[p] = r
    return pivots


def null_space(rows: list[SparseRow], ncols: int) -> list[SparseRow]:
    """Exact basis of {c : row . c = 0 for every row}, one sparse vector per free column."""
    pivots = rref(rows)
    free = [j for j in range(ncols) if j not in pivots]
    basis = []
    for j in free:
        vec: SparseRow = {j: Fraction(1)}
        for p, row in pivots.items():
            v = row.get(j)
            if v:
                vec[p] = -v
        basis.append(vec)
    return basis

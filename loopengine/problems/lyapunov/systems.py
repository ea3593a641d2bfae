"""Reading polynomial systems written by people: validation with messages that say what is wrong.

A system is a list of n strings, the right-hand sides of x_i' = f_i(x0..x(n-1)).
Floats are read as exact rationals (0.5 -> 1/2) so the certificate stays exact.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import sympy as sp
from sympy.parsing.sympy_parser import (
    auto_number, factorial_notation, parse_expr, rationalize, convert_xor,
)

from loopengine.problems.lyapunov.polynomials import poly_dict, symbols

_ALLOWED = re.compile(r"^[0-9A-Za-z_+\-*/^().\s]*$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_TRANSFORMS = (auto_number, factorial_notation, convert_xor, rationalize)

PolyDict = dict[tuple[int, ...], Fraction]


def parse_equation(text: str, n: int, label: str) -> PolyDict:
    """One right-hand side -> exact coefficient dict; ValueError naming `label` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{label}: empty equation")
    if not _ALLOWED.match(text):
        raise ValueError(f"{label}: cannot parse {text!r} (only numbers, x0..x{n - 1}, + - * / ^ ** and parentheses)")
    for name in _NAME.findall(text):
        if not re.fullmatch(r"x\d+", name):
            raise ValueError(f"{label}: {text!r} uses {name!r}, which is not a variable; equations must be "
                             f"polynomials in x0..x{n - 1}")
        if int(name[1:]) >= n:
            raise ValueError(f"{label}: {text!r} uses {name}, outside x0..x{n - 1} "
                             f"(a system of {n} equations has variables x0..x{n - 1})")
    xs = symbols(n)
    try:
        expr = parse_expr(text, local_dict={str(x): x for x in xs}, global_dict={"Integer": sp.Integer,
                          "Float": sp.Float, "Rational": sp.Rational, "Symbol": sp.Symbol},
                          transformations=_TRANSFORMS)
    except Exception as exc:  # sympy raises many types for malformed input
        raise ValueError(f"{label}: cannot parse {text!r} ({type(exc).__name__})") from None
    expr = sp.sympify(expr)
    if not expr.is_polynomial(*xs):
        raise ValueError(f"{label}: {text!r} is not a polynomial in x0..x{n - 1} (no division by variables, "
                         "no negative or fractional powers)")
    coeffs = poly_dict(expr, n)
    const = coeffs.get((0,) * n, Fraction(0))
    if const != 0:
        raise ValueError(f"{label}: {text!r} has constant term {const}, so f(0) != 0 and the origin is not an equilibrium")
    return {m: c for m, c in coeffs.items() if c != 0}


def parse_system(equations: list[str], label: str = "f", n: int | None = None) -> list[PolyDict]:
    """All right-hand sides; the dimension is the number of equations (must match n if given)."""
    if not isinstance(equations, (list, tuple)) or not equations:
        raise ValueError(f"{label}: expected a list of equations like [\"-x0**3 + x1\", \"-x0 - x1\"]")
    dim = len(equations)
    if n is not None and dim != n:
        raise ValueError(f"{label}: {dim} equations given but the system has n = {n} variables (need one per variable)")
    if not 2 <= dim <= 5:
        raise ValueError(f"{label}: {dim} equations; systems of 2 to 5 variables are supported")
    return [parse_equation(eq, dim, f"{label}[{i}]") for i, eq in enumerate(equations)]


def system_degree(system: list[PolyDict]) -> int:
    return max((sum(m) for eq in system for m in eq), default=1)


def read_systems_file(path: Path) -> list[tuple[str, list[PolyDict]]]:
    """A text file, one system per line: right-hand sides separated by ';' ('#' starts a comment,
    an optional 'name:' prefix labels the system). Returns (name, system) pairs."""
    out = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = f"line{lineno}"
        if ":" in line:
            name, line = (s.strip() for s in line.split(":", 1))
        eqs = [e.strip() for e in line.split(";") if e.strip()]
        out.append((name, parse_system(eqs, label=f"{path.name} line {lineno}")))
    if not out:
        raise ValueError(f"{path}: no systems found (one per line, equations separated by ';')")
    return out

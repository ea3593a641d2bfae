"""Reading polynomial systems written by people: validation with messages that say what is wrong.

A system is a list of n strings, the right-hand sides of x_i' = f_i(x0..x(n-1)), read by the
exact parser (parse.py): 0.5 is 1/2 and 1e-13 is 1/10^13, so the certificate is for the
system as typed.
"""
from __future__ import annotations

from fractions import Fraction
from math import lcm
from pathlib import Path

from loopengine.problems.lyapunov.parse import DEFAULT_LIMITS, Limits, ParseError, parse_polynomial, variable_count
from loopengine.problems.lyapunov.polynomials import PolyDict


def parse_equation(text: str, n: int, label: str, limits: Limits = DEFAULT_LIMITS,
                   equilibrium: bool = True) -> PolyDict:
    """One right-hand side (or V when equilibrium=False) -> exact coefficient dict;
    ValueError naming `label` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{label}: empty equation")
    try:
        coeffs = parse_polynomial(text, n, limits)
    except ParseError as exc:
        raise ValueError(f"{label}: cannot parse {_short(text)!r}: {exc}") from None
    const = coeffs.get((0,) * n, Fraction(0))
    if equilibrium and const != 0:
        raise ValueError(f"{label}: {_short(text)!r} has constant term {const}, so f(0) != 0 and the origin is "
                         "not an equilibrium")
    return coeffs


def variable_count_or_1(text: str) -> int:
    """The n to read one equation with before the system's size is known (1 if unreadable)."""
    try:
        return variable_count(text)
    except ParseError:
        return 1


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def parse_system(equations: list[str], label: str = "f", n: int | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> list[PolyDict]:
    """All right-hand sides; the dimension is the number of equations (must match n if given)."""
    if not isinstance(equations, (list, tuple)) or not equations:
        raise ValueError(f"{label}: expected a list of equations like [\"-x0**3 + x1\", \"-x0 - x1\"]")
    dim = len(equations)
    if not 2 <= dim <= 5 and n is None:
        # a typo that swallowed the ';' is the likelier mistake: report it where it is first
        for i, eq in enumerate(equations):
            parse_equation(eq, max(variable_count_or_1(eq), 1), f"{label}[{i}]", limits, equilibrium=False)
    if n is not None and dim != n:
        raise ValueError(f"{label}: {dim} equations given but the system has n = {n} variables (need one per variable)")
    if not 2 <= dim <= 5:
        raise ValueError(f"{label}: {dim} equations; systems of 2 to 5 variables are supported")
    return [parse_equation(eq, dim, f"{label}[{i}]", limits) for i, eq in enumerate(equations)]


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


def integer_scaled(system: list[PolyDict]) -> list[PolyDict]:
    """c * f with the smallest integer c > 0 that clears every denominator. x' = c f(x) has the
    same trajectories as x' = f(x) run c times faster, so V works for one iff for the other;
    prompts (integer tokens) and the sampler see this form, certificates the typed f."""
    c = lcm(*(q.denominator for eq in system for q in eq.values())) if any(system) else 1
    return [{m: q * c for m, q in eq.items()} for eq in system]

"""Prefix notation for polynomials, and the integer encoding of its numbers.

Grammar (Polish notation, every operator binary):
    expr := "+" expr expr | "*" expr expr | "^" VAR DIGIT+ | VAR | INT
    INT  := ("INT+" | "INT-") DIGIT+          base-10 digits, most significant first
    VAR  := "x0" .. "x4"
e.g. 3*x0^2*x1 - x1^2  ->  + * INT+ 3 * ^ x0 2 x1 * INT- 1 ^ x1 2
A polynomial is written as a right-nested sum of terms in basis order, each term
"* INT monomial". A system (the prompt) is "EQ f0 EQ f1 ...": the number of EQ tokens is n.
An exponent is its base-10 digits (x0^12 -> ^ x0 1 2): no expression starts with a digit, so
the digits that follow a variable are unambiguous.
Token ids are indices into VOCAB (the engine shifts them by its 4 reserved ids).
Rationals are not in the grammar: generated systems and V have integer coefficients.
"""
from __future__ import annotations

from fractions import Fraction

from loopengine.problems.lyapunov.polynomials import PolyDict, add, mul

MAX_VARS = 5
DIGITS = [str(d) for d in range(10)]
VARS = [f"x{i}" for i in range(MAX_VARS)]
VOCAB = ["+", "*", "^", "INT+", "INT-", "EQ", *DIGITS, *VARS]
ID = {t: i for i, t in enumerate(VOCAB)}
MAX_INT_DIGITS = 30


class TokenError(ValueError):
    pass


def int_tokens(value: int) -> list[str]:
    return ["INT+" if value >= 0 else "INT-", *str(abs(int(value)))]


def monomial_tokens(exps: tuple[int, ...]) -> list[str]:
    factors = []
    for i, e in enumerate(exps):
        if e == 1:
            factors.append([VARS[i]])
        elif e > 1:
            factors.append(["^", VARS[i], *str(e)])
    out: list[str] = []
    for k, f in enumerate(factors):
        out += (["*"] if k < len(factors) - 1 else []) + f
    return out


def poly_tokens(poly: PolyDict) -> list[str]:
    """Integer-coefficient polynomial -> prefix tokens (zero polynomial is INT+ 0)."""
    terms = sorted(((m, c) for m, c in poly.items() if c != 0), key=lambda mc: (sum(mc[0]), [-e for e in mc[0]]))
    if not terms:
        return int_tokens(0)
    out: list[str] = []
    for k, (m, c) in enumerate(terms):
        if Fraction(c).denominator != 1:
            raise TokenError(f"coefficient {c} is not an integer")
        if k < len(terms) - 1:
            out.append("+")
        mono = monomial_tokens(m)
        out += (["*", *int_tokens(int(c)), *mono] if mono else int_tokens(int(c)))
    return out


def system_tokens(system: list[PolyDict]) -> list[str]:
    out: list[str] = []
    for eq in system:
        out += ["EQ", *poly_tokens(eq)]
    return out


# ---- parsing back ---------------------------------------------------------------------------

class _Parser:
    def __init__(self, tokens: list[str], n: int, max_degree: int) -> None:
        self.t, self.i, self.n, self.max_degree = tokens, 0, n, max_degree

    def take(self) -> str:
        if self.i >= len(self.t):
            raise TokenError("expression ends early")
        self.i += 1
        return self.t[self.i - 1]

    def digits(self) -> str:
        out = ""
        while self.i < len(self.t) and self.t[self.i] in DIGITS:
            out += self.t[self.i]
            self.i += 1
        return out

    def var(self, tok: str) -> PolyDict:
        if tok not in VARS or VARS.index(tok) >= self.n:
            raise TokenError(f"{tok!r} is not a variable of this system")
        m = [0] * self.n
        m[VARS.index(tok)] = 1
        return {tuple(m): Fraction(1)}

    def expr(self) -> PolyDict:
        tok = self.take()
        if tok == "+":
            return add(self.expr(), self.expr())
        if tok == "*":
            out = mul(self.expr(), self.expr())
            if any(sum(m) > self.max_degree for m in out):
                raise TokenError("degree too high")
            return out
        if tok == "^":
            base = self.var(self.take())
            e = self.digits()
            if not e or len(e) > 3:
                raise TokenError("an exponent is 1 to 3 digits")
            (m, _), = base.items()
            if int(e) > self.max_degree:
                raise TokenError("degree too high")
            return {tuple(x * int(e) for x in m): Fraction(1)}
        if tok in ("INT+", "INT-"):
            digits = self.digits()
            if not digits or len(digits) > MAX_INT_DIGITS:
                raise TokenError("bad integer")
            value = int(digits) * (1 if tok == "INT+" else -1)
            return {(0,) * self.n: Fraction(value)} if value else {}
        return self.var(tok)


def parse_poly(tokens: list[str], n: int, max_degree: int = 9) -> PolyDict:
    """Prefix tokens -> polynomial in x0..x(n-1); TokenError if malformed or trailing tokens."""
    p = _Parser(list(tokens), n, max_degree)
    out = p.expr()
    if p.i != len(tokens):
        raise TokenError("tokens after the end of the expression")
    return out


def parse_system_tokens(tokens: list[str], max_degree: int = 9) -> list[PolyDict]:
    if not tokens or tokens[0] != "EQ":
        raise TokenError("a system starts with EQ")
    parts: list[list[str]] = []
    for t in tokens:
        if t == "EQ":
            parts.append([])
        else:
            parts[-1].append(t)
    n = len(parts)
    return [parse_poly(p, n, max_degree) for p in parts]


def ids(tokens: list[str]) -> list[int]:
    return [ID[t] for t in tokens]


def strs(token_ids) -> list[str]:
    return [VOCAB[int(i)] if 0 <= int(i) < len(VOCAB) else "?" for i in token_ids]

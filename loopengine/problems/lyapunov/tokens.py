"""Prefix notation for polynomials, and the integer encoding of its numbers.

Grammar (Polish notation, every operator binary):
    expr := "+" expr expr | "*" expr expr | "^" VAR DIGIT | VAR | INT
    INT  := ("INT+" | "INT-") DIGIT+          base-10 digits, most significant first
    VAR  := "x0" .. "x4"
e.g. 3*x0^2*x1 - x1^2  ->  + * INT+ 3 * ^ x0 2 x1 * INT- 1 ^ x1 2
A polynomial is written as a right-nested sum of terms in basis order, each term
"* INT monomial". A system (the prompt) is "EQ f0 EQ f1 ...": the number of EQ tokens is n.
Token ids are indices into VOCAB (the engine shifts them by its 4 reserved ids).
Rationals are not in the grammar: generated systems and V have integer coefficients.
"""
from __future__ import annotations

from fractions import Fraction

MAX_VARS = 5
DIGITS = [str(d) for d in range(10)]
VARS = [f"x{i}" for i in range(MAX_VARS)]
VOCAB = ["+", "*", "^", "INT+", "INT-", "EQ", *DIGITS, *VARS]
ID = {t: i for i, t in enumerate(VOCAB)}

PolyDict = dict[tuple[int, ...], Fraction]


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
            if e > 9:
                raise TokenError(f"exponent {e} > 9 cannot be written")
            factors.append(["^", VARS[i], str(e)])
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

def _mul(a: PolyDict, b: PolyDict) -> PolyDict:
    out: PolyDict = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(x + y for x, y in zip(ma, mb))
            out[m] = out.get(m, 0) + ca * cb
    return {m: c for m, c in out.items() if c != 0}


def _add(a: PolyDict, b: PolyDict) -> PolyDict:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + c
    return {m: c for m, c in out.items() if c != 0}


class _Parser:
    def __init__(self, tokens: list[str], n: int, max_degree: int) -> None:
        self.t, self.i, self.n, self.max_degree = tokens, 0, n, max_degree

    def take(self) -> str:
        if self.i >= len(self.t):
            raise TokenError("expression ends early")
        self.i += 1
        return self.t[self.i - 1]

    def var(self, tok: str) -> PolyDict:
        if tok not in VARS or VARS.index(tok) >= self.n:
            raise TokenError(f"{tok!r} is not a variable of this system")
        m = [0] * self.n
        m[VARS.index(tok)] = 1
        return {tuple(m): Fraction(1)}

    def expr(self) -> PolyDict:
        tok = self.take()
        if tok == "+":
            return _add(self.expr(), self.expr())
        if tok == "*":
            out = _mul(self.expr(), self.expr())
            if any(sum(m) > self.max_degree for m in out):
                raise TokenError("degree too high")
            return out
        if tok == "^":
            base = self.var(self.take())
            e = self.take()
            if e not in DIGITS:
                raise TokenError("exponent must be one digit")
            (m, _), = base.items()
            if int(e) > self.max_degree:
                raise TokenError("degree too high")
            return {tuple(x * int(e) for x in m): Fraction(1)}
        if tok in ("INT+", "INT-"):
            digits = ""
            while self.i < len(self.t) and self.t[self.i] in DIGITS:
                digits += self.t[self.i]
                self.i += 1
            if not digits or len(digits) > 12:
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

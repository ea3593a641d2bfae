"""Reader for the public Lyapunov benchmark files (BPoly, FBarr, FLyap, FSOSTOOL; their README
in the data folder): `1|INT+ n <SPECIAL_3> f0 <SPECIAL_3> ... f(n-1)<TAB>V`, each expression in
prefix notation with binary + * ^, variables x0..x4 and integers `INT+`/`INT-` followed by
base-1000 digits (`INT- 1 0` = -1000), exponents written the same way (`^ x0 INT+ 4`).
Data only: every token is checked, nothing is evaluated."""
from __future__ import annotations

from fractions import Fraction

from loopengine.problems.lyapunov.polynomials import PolyDict, add, constant, mul, power, variable

MAX_EXPONENT = 64


class FormatError(ValueError):
    pass


class _Reader:
    def __init__(self, tokens: list[str], n: int) -> None:
        self.t, self.i, self.n = tokens, 0, n

    def take(self) -> str:
        if self.i >= len(self.t):
            raise FormatError("expression ends early")
        self.i += 1
        return self.t[self.i - 1]

    def integer(self, sign: str) -> int:
        digits = []
        while self.i < len(self.t) and self.t[self.i].isdigit():
            d = int(self.t[self.i])
            if d >= 1000:
                raise FormatError(f"base-1000 digit {d} out of range")
            digits.append(d)
            self.i += 1
        if not digits or len(digits) > 40:
            raise FormatError("bad integer")
        value = 0
        for d in digits:
            value = value * 1000 + d
        return value if sign == "INT+" else -value

    def expr(self) -> PolyDict:
        tok = self.take()
        if tok == "+":
            return add(self.expr(), self.expr())
        if tok == "*":
            return mul(self.expr(), self.expr())
        if tok == "^":
            base = self.expr()
            sign = self.take()
            if sign != "INT+":
                raise FormatError("exponent must be INT+ digits")
            k = self.integer(sign)
            if k > MAX_EXPONENT:
                raise FormatError(f"exponent {k} too large")
            return power(base, k, self.n)
        if tok in ("INT+", "INT-"):
            return constant(Fraction(self.integer(tok)), self.n)
        if tok.startswith("x") and tok[1:].isdigit() and int(tok[1:]) < self.n:
            return variable(int(tok[1:]), self.n)
        raise FormatError(f"unexpected token {tok!r}")


def read_expression(text: str, n: int) -> PolyDict:
    r = _Reader(text.split(), n)
    out = r.expr()
    if r.i != len(r.t):
        raise FormatError("tokens after the end of an expression")
    return out


def read_line(line: str) -> tuple[int, list[PolyDict], PolyDict]:
    """(n, system, reference V) of one benchmark line."""
    system_part, sep, v_part = line.rstrip("\n").partition("\t")
    if not sep:
        raise FormatError("no tab between the system and V")
    _, bar, body = system_part.partition("|")
    fields = [f.strip() for f in (body if bar else system_part).split("<SPECIAL_3>")]
    head = fields[0].split()
    if len(head) != 2 or head[0] != "INT+" or not head[1].isdigit():
        raise FormatError("the first field must be INT+ n")
    n = int(head[1])
    if not 1 <= n <= 5 or len(fields) != n + 1:
        raise FormatError(f"n = {n} but {len(fields) - 1} equations")
    return n, [read_expression(f, n) for f in fields[1:]], read_expression(v_part, n)

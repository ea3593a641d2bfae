"""The one reader of polynomial text: a tokenizer and a recursive-descent parser, no eval.

Grammar (usual precedence, `**` and `^` right-associative, unary minus binds looser than a power):
    sum     := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*          division by constants only
    unary   := ("+" | "-") unary | power
    power   := atom (("**" | "^") unary)?          the exponent must be a non-negative integer constant
    atom    := NUMBER | VARIABLE | "(" sum ")"
Numbers become fractions.Fraction exactly as typed ("0.1" -> 1/10, "1e-13" -> 1/10^13), so no
float ever stands between the text and the certificate. Variables are x0..x(n-1).

Everything that can blow up is bounded from the syntax tree BEFORE any expansion: text length,
each exponent, the total degree, the number of terms a product or power can produce, and the
size (in bits) of constants. So `-x0 + 9**9**9` or `(x0 + x1 + 1)**400` fail at once with a
message, instead of hanging.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from math import comb

from loopengine.problems.lyapunov.polynomials import PolyDict, add, constant, mul, power, scale, variable


class ParseError(ValueError):
    """Text that is not a polynomial we accept; the message says what and where."""


@dataclass(frozen=True)
class Limits:
    max_length: int = 20_000      # characters of text
    max_exponent: int = 64        # any single exponent
    max_degree: int = 40          # total degree of the result and of every sub-expression
    max_terms: int = 5_000        # monomials any sub-expression may expand to
    max_bits: int = 100_000       # bits any coefficient may reach (numerator or denominator)
    max_decimal_exponent: int = 400  # |e| in 1.5e-13


DEFAULT_LIMITS = Limits()
ENDS_EARLY = "the expression ends early"

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<var>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<op>\*\*|[-+*/^()]))")


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) triples; kind is num, var or op."""
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"unexpected character {text[pos:].lstrip()[0]!r} at position {pos}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


# ---- syntax tree with bounds ---------------------------------------------------------------
# A node is (op, children-or-value, degree bound, terms bound, bits bound). Bounds are upper
# bounds on what expanding the node would produce; the parser checks them as it builds.

@dataclass(frozen=True)
class _Node:
    op: str            # "num", "var", "+", "*", "/", "neg", "**"
    args: tuple
    degree: int
    terms: int
    bits: int
    value: Fraction | None = None  # for constant sub-expressions (degree 0, evaluated exactly)


class _Parser:
    def __init__(self, tokens, n: int, limits: Limits) -> None:
        self.t, self.i, self.n, self.lim = tokens, 0, n, limits

    def peek(self) -> str | None:
        return self.t[self.i][1] if self.i < len(self.t) else None

    def where(self) -> str:
        return f"position {self.t[self.i][2]}" if self.i < len(self.t) else "the end"

    def take(self) -> tuple[str, str, int]:
        if self.i >= len(self.t):
            raise ParseError(ENDS_EARLY)
        self.i += 1
        return self.t[self.i - 1]

    def monomials_up_to(self, degree: int) -> int:
        return comb(self.n + degree, self.n)

    def check(self, node: _Node) -> _Node:
        lim = self.lim
        if node.degree > lim.max_degree:
            raise ParseError(f"degree {node.degree} exceeds the limit {lim.max_degree}")
        if node.terms > lim.max_terms:
            raise ParseError(f"expanding would give up to {node.terms} terms, above the limit {lim.max_terms}")
        if node.bits > lim.max_bits:
            raise ParseError(f"a coefficient would need about {node.bits} bits, above the limit {lim.max_bits}")
        return node

    def make(self, op: str, args: tuple, degree: int, terms: int, bits: int) -> _Node:
        """A compound node; constant sub-expressions are folded (their bounds were checked first)."""
        terms = min(terms, self.monomials_up_to(degree))
        node = self.check(_Node(op, args, degree, terms, bits))
        if all(a.value is not None for a in args):
            node = _Node(op, args, degree, terms, bits, _fold(op, args))
        return node

    # grammar
    def sum(self) -> _Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.term()
            if op == "-":
                right = self.make("neg", (right,), right.degree, right.terms, right.bits)
            node = self.make("+", (node, right), max(node.degree, right.degree), node.terms + right.terms,
                             node.bits + right.bits + 1)
        return node

    def term(self) -> _Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            right = self.unary()
            if op == "/":
                if right.value is None:
                    raise ParseError("not a polynomial: division is only by constants, not by variables")
                if right.value == 0:
                    raise ParseError("division by zero")
                node = self.make("/", (node, right), node.degree, node.terms, node.bits + right.bits)
            else:
                node = self.make("*", (node, right), node.degree + right.degree, node.terms * right.terms,
                                 node.bits + right.bits + min(node.terms, right.terms).bit_length())
        return node

    def unary(self) -> _Node:
        if self.peek() in ("+", "-"):
            op = self.take()[1]
            inner = self.unary()
            return inner if op == "+" else self.make("neg", (inner,), inner.degree, inner.terms, inner.bits)
        return self.power()

    def power(self) -> _Node:
        base = self.atom()
        if self.peek() not in ("**", "^"):
            return base
        self.take()
        exp = self.unary()
        if exp.value is None:
            raise ParseError("not a polynomial: an exponent must be a constant, not contain variables")
        if exp.value.denominator != 1 or exp.value < 0:
            raise ParseError(f"not a polynomial: exponent {exp.value} is not a non-negative integer")
        k = int(exp.value)
        if k > self.lim.max_exponent:
            raise ParseError(f"exponent {k} exceeds the limit {self.lim.max_exponent}")
        return self.make("**", (base, exp), base.degree * k, base.terms ** k if k else 1,
                         base.bits * k + k * base.terms.bit_length())

    def atom(self) -> _Node:
        kind, text, pos = self.take()
        if kind == "num":
            value = _number(text, self.lim)
            bits = max(value.numerator.bit_length(), value.denominator.bit_length())
            return self.check(_Node("num", (), 0, 1, bits, value))
        if kind == "var":
            if not re.fullmatch(r"x(0|[1-9]\d*)", text):
                raise ParseError(f"{text!r} is not a variable; use x0..x{self.n - 1}")
            i = int(text[1:])
            if i >= self.n:
                raise ParseError(f"{text} is outside x0..x{self.n - 1} (a system of {self.n} equations "
                                 f"has variables x0..x{self.n - 1})")
            return self.check(_Node("var", (i,), 1, 1, 0))
        if text == "(":
            node = self.sum()
            if self.peek() != ")":
                raise ParseError(f"expected ')' at {self.where()}")
            self.take()
            return node
        raise ParseError(f"unexpected {text!r} at position {pos}")


def _number(text: str, lim: Limits) -> Fraction:
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > lim.max_decimal_exponent:
        raise ParseError(f"number {text} has a decimal exponent beyond +-{lim.max_decimal_exponent}")
    value = Fraction(text)
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > lim.max_bits:
        raise ParseError(f"number {text[:20]}... has more than {lim.max_bits} bits")
    return value


def _fold(op: str, args: tuple) -> Fraction:
    a = args[0].value
    if op == "neg":
        return -a
    b = args[1].value
    return {"+": lambda: a + b, "*": lambda: a * b, "/": lambda: a / b, "**": lambda: a ** int(b)}[op]()


def _expand(node: _Node, n: int) -> PolyDict:
    if node.value is not None:
        return constant(node.value, n)
    op, args = node.op, node.args
    if op == "var":
        return variable(args[0], n)
    if op == "neg":
        return scale(_expand(args[0], n), Fraction(-1))
    if op == "+":
        return add(_expand(args[0], n), _expand(args[1], n))
    if op == "*":
        return mul(_expand(args[0], n), _expand(args[1], n))
    if op == "/":
        return scale(_expand(args[0], n), 1 / args[1].value)
    if op == "**":
        return power(_expand(args[0], n), int(args[1].value), n)
    raise AssertionError(op)


def parse_polynomial(text: str, n: int, limits: Limits = DEFAULT_LIMITS) -> PolyDict:
    """Text -> exact polynomial {exponent tuple: Fraction} in x0..x(n-1); ParseError if the text
    is not such a polynomial or exceeds `limits`."""
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}")
    if len(text) > limits.max_length:
        raise ParseError(f"text of {len(text)} characters exceeds the limit {limits.max_length}")
    if not text.strip():
        raise ParseError("empty expression")
    tokens = tokenize(text)
    p = _Parser(tokens, n, limits)
    try:
        tree = p.sum()
    except ParseError as exc:
        if p.i >= len(tokens) and str(exc) == ENDS_EARLY:  # say where, and what came last
            raise ParseError(f"{ENDS_EARLY}: at position {len(text.rstrip())}, after "
                             f"{text.rstrip()[-12:]!r} a term is missing") from None
        raise
    if p.i != len(tokens):
        raise ParseError(f"unexpected {tokens[p.i][1]!r} at position {tokens[p.i][2]}")
    return _expand(tree, n)


def variable_count(text: str) -> int:
    """1 + the largest index k of a variable xk in the text (at least 1): the n to parse it with."""
    ks = [int(tok[1:]) for kind, tok, _ in tokenize(text) if kind == "var" and re.fullmatch(r"x(0|[1-9]\d*)", tok)]
    return max(ks, default=0) + 1
